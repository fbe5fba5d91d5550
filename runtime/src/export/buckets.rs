//! The latency buckets exports carry: the exact exponential buckets
//! ([`ExponentialHistogram`], what Prometheus native histograms and
//! OpenTelemetry exponential histograms take), and classic cumulative
//! buckets ([`LatencyBucket`]) at the bounds of a layout (`super::classic`)
//! for Prometheus's classic histograms.

use crate::stats::histogram::{Buckets, PER_OCTAVE, SCALE};

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
