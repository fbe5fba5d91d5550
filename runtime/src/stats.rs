//! Exact, lock-free per-function statistics.
//!
//! # Design
//!
//! Each thread that calls a function counts into its own [`Block`] of that
//! function's counters (128 bytes, cache-line aligned, reached through the
//! function's thread-local, which the attribute declares). Only the owning
//! thread writes a block, so a count is a plain load and store: no atomic
//! read-modify-write, no lock, and no cache line shared between threads on
//! the hot path. A block is created (or taken from the site's free list) at a
//! thread's first call of the function, and given back with its counts when
//! the thread exits, so a site holds as many blocks as the most threads that
//! ever used it at once. Readers lock the site's list of blocks (writers never
//! take that lock) and sum the blocks. Calls made while the thread-local is
//! already destroyed (from other thread-local destructors at thread exit)
//! count in a shared set of counters with atomic adds, so none is lost.
//!
//! Only *events* are stored: a call's start (`calls`) and its one outcome
//! (`ok`, `errors`, `panics`, `cancelled`). `in_flight` is not a counter but
//! `calls - finished`, so `ok + errors + panics + cancelled + in_flight ==
//! calls` holds by construction. To keep `in_flight` from ever going negative,
//! a reader loads every outcome counter first (acquire) and the start counters
//! last: an outcome is stored (release) after its start was, on the same
//! thread or (for an async call resumed elsewhere) on one that the executor
//! synchronised with, so every finished call the reader saw is also among the
//! starts it reads afterwards.
//!
//! A call that returned with timing on is counted *only* in the latency
//! histogram (split by ok / error), never in a plain counter, so with timing
//! on `latency.count == ok + errors` exactly in every snapshot: both sides are
//! sums of the same cells.
//!
//! The histogram is log-linear: values below 16 ns have their own bucket,
//! above that every power of two is split into 16 buckets, up to `u64::MAX`
//! nanoseconds (976 buckets). A percentile is reported as the middle of its
//! bucket, so its relative error is at most 1/32 (3.2%). Timed calls already
//! pay for two clock reads, so the histogram takes atomic adds, spread over
//! [`HIST_SHARDS`] shards; a shard's cells (2 × 976 × 8 bytes, 15.6 KiB) are
//! allocated at its first timed call.
//!
//! Memory per site: the `static` itself (about 0.3 KiB), 128 bytes per
//! thread that used the function at the same time, and 15.6 KiB per
//! histogram shard in use (at most 8: 125 KiB). A function called from one
//! thread with timing on holds about 16 KiB.
//!
//! [`Site::reset_stats`] does not zero cells under running writers: it stores
//! a baseline that later reads subtract, and it counts the calls in flight at
//! that moment as started after the reset, so the invariants survive it.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::site::Site;

/// Number of latency histogram shards per site.
pub(crate) const HIST_SHARDS: usize = 8;
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Number of latency buckets: `16 * (64 - 3)`.
pub(crate) const BUCKETS: usize = SUB * (64 - SUB_BITS as usize + 1);

static TIMING: AtomicBool = AtomicBool::new(true);

/// Turn latency measurement (the clock reads) on or off for every function,
/// from the next call on. Sites annotated with `timing = false` never read the
/// clock. On by default: see the crate documentation for the cost.
///
/// ```
/// instrument_once::set_timing(false);
/// assert!(!instrument_once::timing());
/// instrument_once::set_timing(true);
/// ```
pub fn set_timing(enabled: bool) {
    TIMING.store(enabled, Ordering::Relaxed);
}

/// Whether the global timing switch is on (see [`set_timing`]).
///
/// ```
/// assert!(instrument_once::timing());
/// ```
pub fn timing() -> bool {
    TIMING.load(Ordering::Relaxed)
}

#[inline]
pub(crate) fn timing_on() -> bool {
    TIMING.load(Ordering::Relaxed)
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Err,
    Panic,
    Cancelled,
}

struct Histogram {
    ok: [AtomicU64; BUCKETS],
    err: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
    /// One past the highest bucket ever written: readers stop there.
    top: AtomicUsize,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            ok: std::array::from_fn(|_| AtomicU64::new(0)),
            err: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
            top: AtomicUsize::new(0),
        }
    }
}

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

/// The raw sums of every shard, before the reset baseline is subtracted.
#[derive(Clone, Default)]
struct Raw {
    calls: u64,
    ok: u64,
    errors: u64,
    panics: u64,
    cancelled: u64,
    overflows: u64,
    sum_ns: u64,
    hist_ok: Vec<u64>,
    hist_err: Vec<u64>,
}

impl Raw {
    fn finished(&self) -> u64 {
        self.ok
            + self.errors
            + self.panics
            + self.cancelled
            + self.hist_ok.iter().sum::<u64>()
            + self.hist_err.iter().sum::<u64>()
    }
}

/// Event counters. In a [`Block`] only its owning thread writes them, with a
/// plain load and store; the shared set in [`SiteStats`] takes atomic adds.
struct Counters {
    calls: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    panics: AtomicU64,
    cancelled: AtomicU64,
    overflows: AtomicU64,
}

impl Counters {
    const fn new() -> Counters {
        Counters {
            calls: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            overflows: AtomicU64::new(0),
        }
    }

    fn outcome(&self, outcome: Outcome) -> &AtomicU64 {
        match outcome {
            Outcome::Ok => &self.ok,
            Outcome::Err => &self.errors,
            Outcome::Panic => &self.panics,
            Outcome::Cancelled => &self.cancelled,
        }
    }

    /// Adds the outcomes to `raw` (acquire: see the module documentation).
    fn read_outcomes(&self, raw: &mut Raw) {
        raw.ok += self.ok.load(Ordering::Acquire);
        raw.errors += self.errors.load(Ordering::Acquire);
        raw.panics += self.panics.load(Ordering::Acquire);
        raw.cancelled += self.cancelled.load(Ordering::Acquire);
        raw.overflows += self.overflows.load(Ordering::Relaxed);
    }
}

/// Adds one to a counter that only the calling thread writes: a load and a
/// store, no read-modify-write. `order` is `Release` for outcomes.
#[inline]
fn bump(cell: &AtomicU64, order: Ordering) {
    cell.store(cell.load(Ordering::Relaxed).wrapping_add(1), order);
}

/// One thread's counters for one site.
///
/// A block belongs to one thread at a time: the function's thread-local
/// (`Local`) on that thread points at it, and only that thread writes it. When the thread exits, the
/// block goes to the site's free list *with its counts*, and the next thread
/// that calls the site takes it over and keeps adding: nothing is folded or
/// moved, so no reader can see a count twice or lose it, and the number of
/// blocks of a site is the largest number of threads that used it at once.
#[repr(align(128))]
pub(crate) struct Block {
    counters: Counters,
    site: &'static Site,
    /// The latency histogram shard this block records into.
    hist: usize,
}

impl Block {
    /// Counts a start.
    #[inline]
    pub(crate) fn start(&self) {
        bump(&self.counters.calls, Ordering::Relaxed);
    }

    /// Counts an untimed outcome.
    #[inline]
    pub(crate) fn finish(&self, outcome: Outcome) {
        bump(self.counters.outcome(outcome), Ordering::Release);
    }

    /// Counts a step aside (`max_depth` or the per-thread ceiling).
    #[inline]
    pub(crate) fn overflow(&self) {
        bump(&self.counters.overflows, Ordering::Relaxed);
    }

    /// Records a timed return.
    #[inline(never)]
    pub(crate) fn finish_timed(&self, outcome: Outcome, ns: u64) {
        self.site.stats.record_timed(self.hist, outcome, ns);
    }

    /// Gives the block back to its site when its thread exits.
    pub(crate) fn release(&'static self) {
        self.site.stats.lock_blocks().free.push(self);
    }
}

/// Every block of a site, and those whose thread has exited.
struct Blocks {
    all: Vec<&'static Block>,
    free: Vec<&'static Block>,
}

static NEXT_HIST: AtomicUsize = AtomicUsize::new(0);

/// The counters of one site.
pub(crate) struct SiteStats {
    /// Calls made while their thread's thread-locals are being destroyed
    /// (from thread-local destructors at thread exit): atomic adds.
    shared: Counters,
    blocks: Mutex<Blocks>,
    hists: [OnceLock<Box<Histogram>>; HIST_SHARDS],
    deepest: AtomicU32,
    max_ns: AtomicU64,
    baseline: Mutex<Option<Box<Raw>>>,
}

impl SiteStats {
    pub(crate) const fn new() -> SiteStats {
        SiteStats {
            shared: Counters::new(),
            blocks: Mutex::new(Blocks {
                all: Vec::new(),
                free: Vec::new(),
            }),
            hists: [const { OnceLock::new() }; HIST_SHARDS],
            deepest: AtomicU32::new(0),
            max_ns: AtomicU64::new(0),
            baseline: Mutex::new(None),
        }
    }

    fn lock_blocks(&self) -> std::sync::MutexGuard<'_, Blocks> {
        self.blocks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many blocks this site holds.
    pub(crate) fn block_count(&self) -> usize {
        self.lock_blocks().all.len()
    }

    /// A block for the calling thread: a free one, or a new one.
    #[cold]
    #[inline(never)]
    pub(crate) fn new_block(&self, site: &'static Site) -> &'static Block {
        let mut blocks = self.lock_blocks();
        if let Some(block) = blocks.free.pop() {
            return block;
        }
        let block: &'static Block = Box::leak(Box::new(Block {
            counters: Counters::new(),
            site,
            hist: NEXT_HIST.fetch_add(1, Ordering::Relaxed) % HIST_SHARDS,
        }));
        blocks.all.push(block);
        block
    }

    /// Counts a start without a thread-local block.
    #[cold]
    pub(crate) fn start_shared(&self) {
        self.shared.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an outcome without a thread-local block.
    #[cold]
    pub(crate) fn finish_shared(&self, outcome: Outcome, elapsed_ns: Option<u64>) {
        match (outcome, elapsed_ns) {
            (Outcome::Ok | Outcome::Err, Some(ns)) => self.record_timed(0, outcome, ns),
            _ => {
                self.shared.outcome(outcome).fetch_add(1, Ordering::Release);
            }
        }
    }

    /// Counts a step aside without a thread-local block.
    #[cold]
    pub(crate) fn overflow_shared(&self) {
        self.shared.overflows.fetch_add(1, Ordering::Relaxed);
    }

    /// Raises `deepest` to `depth`.
    #[inline]
    pub(crate) fn depth(&self, depth: u32) {
        if depth > self.deepest.load(Ordering::Relaxed) {
            self.raise_deepest(depth);
        }
    }

    #[cold]
    #[inline(never)]
    fn raise_deepest(&self, depth: u32) {
        self.deepest.fetch_max(depth, Ordering::Relaxed);
    }

    /// Records a call that returned after `ns` nanoseconds, in histogram
    /// shard `hist`: the histogram is its only count (see the module docs).
    fn record_timed(&self, hist: usize, outcome: Outcome, ns: u64) {
        let hist = self.hists[hist % HIST_SHARDS].get_or_init(|| Box::new(Histogram::new()));
        hist.sum_ns.fetch_add(ns, Ordering::Relaxed);
        if ns > self.max_ns.load(Ordering::Relaxed) {
            self.max_ns.fetch_max(ns, Ordering::Relaxed);
        }
        let cells = if outcome == Outcome::Ok {
            &hist.ok
        } else {
            &hist.err
        };
        let bucket = bucket_of(ns);
        if bucket >= hist.top.load(Ordering::Relaxed) {
            hist.top.fetch_max(bucket + 1, Ordering::Relaxed);
        }
        cells[bucket].fetch_add(1, Ordering::Release);
    }

    /// Sums the blocks: every outcome first, the starts last (see the module
    /// documentation for why this order keeps `in_flight >= 0`).
    fn read_raw(&self) -> Raw {
        let mut raw = Raw {
            hist_ok: vec![0; BUCKETS],
            hist_err: vec![0; BUCKETS],
            ..Raw::default()
        };
        // Held while reading, so no block is added half-way through.
        let blocks = self.lock_blocks();
        self.shared.read_outcomes(&mut raw);
        for block in &blocks.all {
            block.counters.read_outcomes(&mut raw);
        }
        for hist in self.hists.iter().filter_map(OnceLock::get) {
            // Cells above `top` were never written. A cell written after
            // `top` was read is simply seen by a later snapshot: until
            // then its call counts as in flight.
            let top = hist.top.load(Ordering::Relaxed);
            for (sum, cell) in raw.hist_ok.iter_mut().zip(&hist.ok[..top]) {
                *sum += cell.load(Ordering::Acquire);
            }
            for (sum, cell) in raw.hist_err.iter_mut().zip(&hist.err[..top]) {
                *sum += cell.load(Ordering::Acquire);
            }
            raw.sum_ns = raw.sum_ns.wrapping_add(hist.sum_ns.load(Ordering::Relaxed));
        }
        raw.calls += self.shared.calls.load(Ordering::Acquire);
        for block in &blocks.all {
            raw.calls += block.counters.calls.load(Ordering::Acquire);
        }
        raw
    }

    pub(crate) fn snapshot(&self) -> Stats {
        self.snapshot_with_buckets().0
    }

    /// The stats, and the latency histogram (ok and errors merged).
    pub(crate) fn snapshot_with_buckets(&self) -> (Stats, Vec<u64>) {
        let baseline = self.baseline.lock().unwrap_or_else(PoisonError::into_inner);
        let mut raw = self.read_raw();
        if let Some(base) = baseline.as_deref() {
            raw.calls -= base.calls;
            raw.ok -= base.ok;
            raw.errors -= base.errors;
            raw.panics -= base.panics;
            raw.cancelled -= base.cancelled;
            raw.overflows -= base.overflows;
            raw.sum_ns = raw.sum_ns.wrapping_sub(base.sum_ns);
            for (v, b) in raw.hist_ok.iter_mut().zip(&base.hist_ok) {
                *v -= b;
            }
            for (v, b) in raw.hist_err.iter_mut().zip(&base.hist_err) {
                *v -= b;
            }
        }
        drop(baseline);
        let timed_ok: u64 = raw.hist_ok.iter().sum();
        let timed_err: u64 = raw.hist_err.iter().sum();
        let finished = raw.finished();
        let merged: Vec<u64> = raw
            .hist_ok
            .iter()
            .zip(&raw.hist_err)
            .map(|(a, b)| a + b)
            .collect();
        let max_ns = self.max_ns.load(Ordering::Relaxed);
        let stats = Stats {
            calls: raw.calls,
            ok: raw.ok + timed_ok,
            errors: raw.errors + timed_err,
            panics: raw.panics,
            cancelled: raw.cancelled,
            in_flight: raw.calls - finished,
            // Calls at depth 1 do not note it (the common case stays a
            // register compare): any counted call was at depth 1 or more.
            deepest: self
                .deepest
                .load(Ordering::Relaxed)
                .max(u32::from(raw.calls > 0)),
            depth_overflows: raw.overflows,
            latency: Latency::from_buckets(&merged, raw.sum_ns, max_ns),
        };
        (stats, merged)
    }

    pub(crate) fn reset(&self) {
        let mut baseline = self.baseline.lock().unwrap_or_else(PoisonError::into_inner);
        let mut raw = self.read_raw();
        // Calls in flight now will finish after the reset: count them as
        // started after it, so `in_flight` stays exact and never negative.
        raw.calls = raw.finished();
        *baseline = Some(Box::new(raw));
        self.deepest.store(0, Ordering::Relaxed);
        self.max_ns.store(0, Ordering::Relaxed);
    }
}

/// A point-in-time copy of one function's statistics.
///
/// Counters only grow between two snapshots (unless [`Site::reset_stats`] is
/// called in between), and every snapshot satisfies
/// `ok + errors + panics + cancelled + in_flight == calls`; with timing on,
/// `latency.count == ok + errors`.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn parse(s: &str) -> Result<u32, std::num::ParseIntError> { s.parse() }
///
/// # fn main() {
/// let _ = parse("1");
/// let _ = parse("x");
/// let s = instrument_once::registry().get(concat!(module_path!(), "::parse")).unwrap().stats();
/// assert_eq!((s.calls, s.ok, s.errors, s.in_flight), (2, 1, 1, 0));
/// assert_eq!(s.latency.count, 2);
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stats {
    /// Calls started (for an async function: first polls).
    pub calls: u64,
    /// Calls that returned, with any value other than `Err(_)`.
    pub ok: u64,
    /// Calls that returned `Err(_)`, for any `Result` type or alias of one.
    pub errors: u64,
    /// Calls that a panic unwound through.
    pub panics: u64,
    /// Async calls whose future was dropped after its first poll and before
    /// it completed.
    pub cancelled: u64,
    /// Calls started and not finished.
    pub in_flight: u64,
    /// The deepest nesting of this function seen on one call chain.
    pub deepest: u32,
    /// Calls that exceeded `max_depth` or the per-thread ceiling
    /// ([`crate::set_max_total_depth`]).
    pub depth_overflows: u64,
    /// Latency of the calls that returned (timing on).
    pub latency: Latency,
}

/// Latency distribution of the calls that returned while timing was on.
///
/// Percentiles come from a log-linear histogram and are within 3.2% of the
/// exact value (1/32 of the value, or 1 ns below 16 ns).
///
/// ```
/// #[instrument_once::instrument_once]
/// fn nap() { std::thread::sleep(std::time::Duration::from_millis(2)) }
///
/// # fn main() {
/// nap();
/// let l = instrument_once::registry().get(concat!(module_path!(), "::nap")).unwrap().stats().latency;
/// assert_eq!(l.count, 1);
/// assert!(l.p50 >= std::time::Duration::from_millis(1));
/// assert!(l.p50 <= l.max);
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Latency {
    /// Number of timed calls.
    pub count: u64,
    /// Total time of the timed calls.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "sum_ns", serialize_with = "as_nanos")
    )]
    pub sum: Duration,
    /// Median.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "p50_ns", serialize_with = "as_nanos")
    )]
    pub p50: Duration,
    /// 90th percentile.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "p90_ns", serialize_with = "as_nanos")
    )]
    pub p90: Duration,
    /// 99th percentile.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "p99_ns", serialize_with = "as_nanos")
    )]
    pub p99: Duration,
    /// Longest call (exact).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "max_ns", serialize_with = "as_nanos")
    )]
    pub max: Duration,
}

#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref)] // the signature serde expects
fn as_nanos<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Latency {
    fn from_buckets(buckets: &[u64], sum_ns: u64, max_ns: u64) -> Latency {
        let count: u64 = buckets.iter().sum();
        let quantile = |q: f64| -> Duration {
            if count == 0 {
                return Duration::ZERO;
            }
            // Rank of the q-quantile, 1-based: ceil(q * count), at least 1.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            for (i, n) in buckets.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    let (low, width) = bucket_bounds(i);
                    let mid = low + width / 2;
                    return Duration::from_nanos(mid.min(max_ns.max(low)));
                }
            }
            Duration::from_nanos(max_ns)
        };
        Latency {
            count,
            sum: Duration::from_nanos(sum_ns),
            p50: quantile(0.50),
            p90: quantile(0.90),
            p99: quantile(0.99),
            max: if count == 0 {
                Duration::ZERO
            } else {
                Duration::from_nanos(max_ns)
            },
        }
    }

    /// Mean latency, or zero when nothing was timed.
    ///
    /// ```
    /// let l = instrument_once::Latency::default();
    /// assert_eq!(l.mean(), std::time::Duration::ZERO);
    /// ```
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(
                u64::try_from(self.sum.as_nanos() / u128::from(self.count)).unwrap_or(u64::MAX),
            )
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "calls={} ok={} errors={} panics={} cancelled={} in_flight={} deepest={} overflows={} p50={:?} p99={:?} max={:?}",
            self.calls,
            self.ok,
            self.errors,
            self.panics,
            self.cancelled,
            self.in_flight,
            self.deepest,
            self.depth_overflows,
            self.latency.p50,
            self.latency.p99,
            self.latency.max
        )
    }
}

impl Site {
    /// A snapshot of this function's statistics.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn work() {}
    /// # fn main() {
    /// work();
    /// work();
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::work")).unwrap();
    /// assert_eq!(site.stats().calls, 2);
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Zero this function's statistics. Calls in flight stay in flight.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn work() {}
    /// # fn main() {
    /// work();
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::work")).unwrap();
    /// site.reset_stats();
    /// assert_eq!(site.stats().calls, 0);
    /// # }
    /// ```
    pub fn reset_stats(&self) {
        self.stats.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_u64() {
        let mut expected_low = 0u64;
        for i in 0..BUCKETS {
            let (low, width) = bucket_bounds(i);
            assert_eq!(low, expected_low, "bucket {i}");
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(low + (width - 1)), i);
            expected_low = low.wrapping_add(width);
        }
        assert_eq!(expected_low, 0, "the last bucket ends at u64::MAX");
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    /// A small deterministic generator (xorshift64*), so the samples are the
    /// same on every run.
    struct Rng(u64);

    impl Rng {
        // 53 random bits over 2^53: exact in an f64.
        #[allow(clippy::cast_precision_loss)]
        fn next_f64(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64;
            x / (1u64 << 53) as f64
        }

        /// Standard normal (Box-Muller).
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.next_f64().max(1e-12), self.next_f64());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    fn exact(sorted: &[u64], q: f64) -> u64 {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn check_distribution(name: &str, samples: &[u64]) {
        let stats = SiteStats::new();
        for (i, ns) in samples.iter().enumerate() {
            stats.start_shared();
            stats.record_timed(i, Outcome::Ok, *ns);
        }
        let l = stats.snapshot().latency;
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        for (q, got) in [(0.5, l.p50), (0.9, l.p90), (0.99, l.p99)] {
            let want = exact(&sorted, q);
            #[allow(clippy::cast_precision_loss)]
            let err = (got.as_nanos() as f64 - want as f64).abs() / want as f64;
            assert!(
                err <= 0.05,
                "{name} p{q}: got {got:?}, exact {want} ns, error {err:.4}"
            );
        }
        assert_eq!(l.count, samples.len() as u64);
        assert_eq!(l.max.as_nanos(), u128::from(*sorted.last().unwrap()));
    }

    #[test]
    fn percentiles_are_within_five_percent_of_exact_ones() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let uniform: Vec<u64> = (0..100_000)
            .map(|_| 50 + (rng.next_f64() * 1e6) as u64)
            .collect();
        check_distribution("uniform 50 ns..1 ms", &uniform);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let log_normal: Vec<u64> = (0..100_000)
            .map(|_| (10_000.0 * (1.5 * rng.normal()).exp()) as u64 + 50)
            .collect();
        check_distribution("log-normal around 10 µs", &log_normal);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bimodal: Vec<u64> = (0..100_000)
            .map(|i| {
                let (centre, spread) = if i % 10 < 7 {
                    (800.0, 100.0)
                } else {
                    (40e6, 5e6)
                };
                (centre + spread * rng.normal()).max(50.0) as u64
            })
            .collect();
        check_distribution("bimodal 800 ns / 40 ms", &bimodal);
        let wide: Vec<u64> = (0..10_000u32)
            .map(|i| 50 + u64::from(i).pow(3) * 100)
            .collect();
        check_distribution("50 ns..100 s", &wide);
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
