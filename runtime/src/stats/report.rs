//! The public statistics of one function: [`Stats`] and its [`Latency`].

use std::fmt;
use std::time::Duration;

use super::event::Event;
use super::histogram::Buckets;

/// A point-in-time copy of one function's statistics.
///
/// Counters only grow between two snapshots (unless [`crate::Site::reset_stats`] is
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
///
/// # What counts where
///
/// * `calls`: every call made while the function is switched on, at entry
///   (an async call at its first poll). Not counted there: calls while it
///   is switched off (nowhere; [`crate::diagnose()`] says "called only
///   while disabled"), calls refused by `max_depth` and calls past the
///   per-thread depth ceiling (both in `depth_overflows` only), and, with
///   `recursion = "outermost"`, calls nested in an outer call of the same
///   function (nowhere: they are part of the outer call).
/// * `ok`, `errors`: calls that returned; `errors` those whose value was
///   `Err(_)` (of any `Result`), `ok` all others. A call that returns
///   before its body runs (`?` in a span field's expression) counts as
///   `ok`: its value is not seen. (An async one whose span's expressions
///   may also await, an `.await` or a macro call, counts as cancelled:
///   the two cannot be told apart.)
/// * `panics`: calls a panic unwound through. `cancelled`: async calls
///   dropped after their first poll and before completing.
/// * `in_flight`: `calls` minus the four outcomes.
/// * `depth_overflows`: calls refused by `max_depth` (the body did not run;
///   the caller got the panic or the `Err`) and calls past the per-thread
///   ceiling (the body ran, untracked). Neither is in `calls` or `errors`;
///   an outer call that returns the refusal's `Err` is an error of its own.
///   (A function switched off but still guarded by `max_depth` refuses
///   calls too; those are counted nowhere, as every call while it is off.)
/// * `latency`: the calls that returned (ok or error) while timing was on.
///
/// ```
/// use instrument_once::{instrument_once, DepthExceeded};
///
/// #[instrument_once(max_depth = 1, on_overflow = "error")]
/// fn walk(again: bool) -> Result<(), DepthExceeded> {
///     if again {
///         let refused = walk(false); // depth 2: refused, the body not run
///         assert!(refused.is_err());
///     }
///     Ok(())
/// }
///
/// # fn main() {
/// walk(true).unwrap();
/// let s = instrument_once::registry().get(concat!(module_path!(), "::walk")).unwrap().stats();
/// // The refused call is only an overflow: not a call, not an error.
/// assert_eq!((s.calls, s.ok, s.errors, s.depth_overflows), (1, 1, 0, 1));
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
/// Percentiles come from a base-2 exponential histogram (scale 3: 8
/// buckets per power of two, the buckets of OpenTelemetry's exponential
/// histograms and Prometheus's native ones) and are within 4.43% of the
/// exact value (and half a nanosecond: they are whole nanoseconds).
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
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(into = "LatencyNanos")
)]
pub struct Latency {
    /// Number of timed calls: every call that returned (`ok + errors`)
    /// while timing was on.
    pub count: u64,
    /// Total time of the timed calls.
    pub sum: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Longest call (exact).
    pub max: Duration,
    /// Timed calls that found no bucket because the process reached its
    /// histogram memory cap ([`crate::set_histogram_memory_cap`]): counted
    /// in `count`, left out of the percentiles.
    pub unbucketed: u64,
}

/// [`Latency`] as serialised: durations as whole nanoseconds, in fields
/// named with their unit.
#[cfg(feature = "serde")]
#[derive(serde::Serialize)]
#[serde(rename = "Latency")]
struct LatencyNanos {
    count: u64,
    sum_ns: u64,
    p50_ns: u64,
    p90_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    unbucketed: u64,
}

#[cfg(feature = "serde")]
impl From<Latency> for LatencyNanos {
    fn from(l: Latency) -> LatencyNanos {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        LatencyNanos {
            count: l.count,
            sum_ns: ns(l.sum),
            p50_ns: ns(l.p50),
            p90_ns: ns(l.p90),
            p99_ns: ns(l.p99),
            max_ns: ns(l.max),
            unbucketed: l.unbucketed,
        }
    }
}

impl Latency {
    /// The percentiles and the longest call of `buckets` (`count` is the
    /// buckets' total; the caller sets it, `sum` and `unbucketed` from the
    /// counters).
    pub(super) fn from_buckets(buckets: &Buckets, max_ns: u64) -> Latency {
        let quantile = |q: f64| Duration::from_nanos(buckets.quantile(q, max_ns).unwrap_or(0));
        let count = buckets.total();
        Latency {
            count,
            sum: Duration::ZERO,
            p50: quantile(0.50),
            p90: quantile(0.90),
            p99: quantile(0.99),
            max: if count == 0 {
                Duration::ZERO
            } else {
                Duration::from_nanos(max_ns)
            },
            unbucketed: 0,
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

impl Stats {
    /// The count of `event` (for exports that go through every event).
    pub(crate) fn count(&self, event: Event) -> u64 {
        match event {
            Event::Call => self.calls,
            Event::Ok => self.ok,
            Event::Err => self.errors,
            Event::Panic => self.panics,
            Event::Cancelled => self.cancelled,
            Event::Overflow => self.depth_overflows,
            Event::Untimed => (self.ok + self.errors).saturating_sub(self.latency.count),
            Event::Unbucketed => self.latency.unbucketed,
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
