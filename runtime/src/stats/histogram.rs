//! The latency histogram: log-linear buckets of nanoseconds, in shards of
//! atomic cells allocated at their first timed call.
//!
//! Values below 16 ns have their own bucket; above that every power of two
//! is split into 16 buckets, up to `u64::MAX` nanoseconds (976 buckets). A
//! percentile is reported as the middle of its bucket, so its relative
//! error is at most 1/32 (3.2%).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Number of latency histogram shards per site.
pub(crate) const SHARDS: usize = 8;
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Number of latency buckets: `16 * (64 - 3)`.
pub(crate) const BUCKET_COUNT: usize = SUB * (64 - SUB_BITS as usize + 1);

/// The bucket of a value in nanoseconds.
#[inline]
// Both casts keep values below 16.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        ns as usize
    } else {
        let msb = ns.ilog2();
        let shift = msb - SUB_BITS;
        // The four bits below the leading one.
        let sub = ((ns >> shift) as usize) & (SUB - 1);
        (msb - SUB_BITS + 1) as usize * SUB + sub
    }
}

/// The smallest value and the width of a bucket.
pub(crate) fn bucket_bounds(index: usize) -> (u64, u64) {
    if index < SUB {
        (index as u64, 1)
    } else {
        let group = index / SUB;
        let sub = (index % SUB) as u64;
        let width = 1u64 << (group - 1);
        ((SUB as u64 + sub) * width, width)
    }
}

/// One shard: a cell per bucket for returns and one for errors.
pub(crate) struct Shard {
    pub(crate) ok: [AtomicU64; BUCKET_COUNT],
    pub(crate) err: [AtomicU64; BUCKET_COUNT],
    pub(crate) sum_ns: AtomicU64,
    /// One past the highest bucket ever written: readers stop there.
    pub(crate) top: AtomicUsize,
}

impl Shard {
    pub(crate) fn new() -> Shard {
        Shard {
            ok: std::array::from_fn(|_| AtomicU64::new(0)),
            err: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
            top: AtomicUsize::new(0),
        }
    }

    /// Records a value (in `err` for an `Err` return).
    pub(crate) fn record(&self, is_err: bool, ns: u64) {
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        let cells = if is_err { &self.err } else { &self.ok };
        let bucket = bucket_of(ns);
        if bucket >= self.top.load(Ordering::Relaxed) {
            self.top.fetch_max(bucket + 1, Ordering::Relaxed);
        }
        cells[bucket].fetch_add(1, Ordering::Release);
    }

    /// Adds the cells to `ok` and `err` (acquire, like every outcome) and
    /// returns the sum of the values. Cells above `top` were never written;
    /// a cell written after `top` was read is seen by a later snapshot (its
    /// call counts as in flight until then).
    pub(crate) fn read(&self, ok: &mut [u64], err: &mut [u64]) -> u64 {
        let top = self.top.load(Ordering::Relaxed);
        for (sum, cell) in ok.iter_mut().zip(&self.ok[..top]) {
            *sum += cell.load(Ordering::Acquire);
        }
        for (sum, cell) in err.iter_mut().zip(&self.err[..top]) {
            *sum += cell.load(Ordering::Acquire);
        }
        self.sum_ns.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_u64() {
        let mut expected_low = 0u64;
        for i in 0..BUCKET_COUNT {
            let (low, width) = bucket_bounds(i);
            assert_eq!(low, expected_low, "bucket {i}");
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(low + (width - 1)), i);
            expected_low = low.wrapping_add(width);
        }
        assert_eq!(expected_low, 0, "the last bucket ends at u64::MAX");
        assert_eq!(bucket_of(u64::MAX), BUCKET_COUNT - 1);
    }

    #[test]
    fn bucket_midpoint_error_is_bounded() {
        for ns in (16..10_000_000u64).step_by(977) {
            let (low, width) = bucket_bounds(bucket_of(ns));
            let mid = low + width / 2;
            #[allow(clippy::cast_precision_loss)]
            let err = (mid as f64 - ns as f64).abs() / ns as f64;
            assert!(err <= 1.0 / 32.0 + 1e-9, "{ns}: {err}");
        }
    }
}
