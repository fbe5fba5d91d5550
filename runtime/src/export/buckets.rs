//! The latency buckets exports carry: the exact exponential buckets
//! ([`ExponentialHistogram`], what Prometheus native histograms and
//! OpenTelemetry exponential histograms take), and classic cumulative
//! buckets ([`LatencyBucket`]) at fixed bounds for Prometheus's classic
//! histograms.
//!
//! # The classic bounds
//!
//! `histogram_quantile` over classic buckets interpolates linearly inside
//! the bucket a quantile falls in, so its error grows with the ratio of a
//! bucket's bounds; and series are summed across instances bucket by
//! bucket, so every process must use the same bounds. The default bounds
//! are the powers of `√2` from `2^13` ns (8.2 µs) to `2^33.5` ns (12.1 s):
//! 42 buckets (and `+Inf`) covering 10 µs to 10 s, each `√2` (41%) wider
//! than the one below. They are bounds of the exponential scheme itself
//! (every fourth one), so a classic bucket is an exact sum of exponential
//! buckets: nothing is approximated before Prometheus interpolates.

use crate::stats::histogram::{Buckets, PER_OCTAVE, SCALE};

/// The default classic bounds: `2^(k/2)` ns for these `k`.
const DEFAULT_HALF_OCTAVES: std::ops::RangeInclusive<i32> = 26..=67;

/// One cumulative classic bucket: the calls that took at most `le_seconds`.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn work() {}
/// # fn main() {
/// work();
/// let snap = instrument_once::registry().snapshot();
/// let me = snap.sites().iter().find(|s| s.name == "work").unwrap();
/// let last = me.latency_buckets.last().unwrap();
/// assert!(last.le_seconds > 10.0 && last.count == 1);
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LatencyBucket {
    /// The bucket's upper bound, in seconds.
    pub le_seconds: f64,
    /// Calls that took at most that long (cumulative).
    pub count: u64,
}

/// A function's latencies in the exact exponential buckets: bucket
/// `index` holds the values in `(2^(index/2^scale), 2^((index+1)/2^scale)]`
/// nanoseconds (OpenTelemetry's numbering; Prometheus native histograms
/// number the same bucket `index + 1`).
///
/// ```
/// #[instrument_once::instrument_once]
/// fn work() {}
/// # fn main() {
/// work();
/// let snap = instrument_once::registry().snapshot();
/// let me = snap.sites().iter().find(|s| s.name == "work").unwrap();
/// let h = &me.histogram;
/// assert_eq!(h.scale, 3);
/// assert_eq!(h.zero_count + h.buckets.iter().map(|b| b.count).sum::<u64>(), 1);
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExponentialHistogram {
    /// The scale: `2^scale` buckets per power of two.
    pub scale: i32,
    /// Values of 0 ns.
    pub zero_count: u64,
    /// The buckets with a count, lowest first.
    pub buckets: Vec<ExponentialBucket>,
}

/// One bucket of an [`ExponentialHistogram`].
///
/// ```
/// let b = instrument_once::ExponentialBucket { index: 79, count: 3 };
/// assert!((b.upper_ns() - 1024.0).abs() < 1e-9);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExponentialBucket {
    /// The bucket's index (see [`ExponentialHistogram`]).
    pub index: i32,
    /// Its count.
    pub count: u64,
}

impl ExponentialBucket {
    /// The bucket's upper bound, in nanoseconds (at scale 3).
    pub fn upper_ns(&self) -> f64 {
        (f64::from(self.index + 1) / f64::from(PER_OCTAVE)).exp2()
    }
}

impl ExponentialHistogram {
    pub(crate) fn of(buckets: &Buckets) -> ExponentialHistogram {
        ExponentialHistogram {
            scale: SCALE,
            zero_count: buckets.zero,
            buckets: buckets
                .nonzero()
                .map(|(index, count)| ExponentialBucket { index, count })
                .collect(),
        }
    }
}

/// The default classic buckets of `buckets`, cumulative (without `+Inf`,
/// whose count is the total).
pub(crate) fn classic(buckets: &Buckets) -> Vec<LatencyBucket> {
    let mut out = Vec::with_capacity(DEFAULT_HALF_OCTAVES.clone().count());
    let mut seen = buckets.zero;
    let mut nonzero = buckets.nonzero().peekable();
    for k in DEFAULT_HALF_OCTAVES {
        // Bucket `i` is at or below `2^(k/2)` when `i + 1 <= 4k`.
        let last_inside = k * (PER_OCTAVE / 2) - 1;
        while let Some((index, n)) = nonzero.next_if(|(index, _)| *index <= last_inside) {
            debug_assert!(index <= last_inside);
            seen += n;
        }
        out.push(LatencyBucket {
            le_seconds: (f64::from(k) / 2.0).exp2() / 1e9,
            count: seen,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::histogram::index_of;

    #[test]
    fn classic_buckets_are_exact_sums_of_exponential_ones() {
        let mut b = Buckets::new();
        // On a bound exactly (2^20 ns is the top of its bucket), just
        // above it, and far below and above the layout.
        for (ns, n) in [(1u64 << 20, 2), ((1 << 20) + 1, 3), (500, 5), (1 << 40, 7)] {
            b.add(index_of(ns), n);
        }
        b.zero = 1;
        let c = classic(&b);
        assert_eq!(c.len(), 42);
        let at = |seconds: f64| {
            c.iter()
                .find(|x| (x.le_seconds - seconds).abs() < 1e-12)
                .unwrap()
                .count
        };
        // Below 2^20 ns: the zero and the 500 ns values.
        assert_eq!(at(f64::from(1u32 << 19) / 1e9 * 2f64.sqrt()), 1 + 5);
        // At 2^20 ns: those and the two values on the bound.
        assert_eq!(at(f64::from(1u32 << 20) / 1e9), 1 + 5 + 2);
        assert_eq!(c.last().unwrap().count, 1 + 5 + 2 + 3);
        assert!(c
            .windows(2)
            .all(|w| w[0].le_seconds < w[1].le_seconds && w[0].count <= w[1].count));
        assert!(c[0].le_seconds < 10e-6 && c.last().unwrap().le_seconds > 10.0);
    }
}
