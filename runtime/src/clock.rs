//! The clock that timed calls read.
//!
//! Timing a call takes two clock reads, which are most of its cost. `quanta`
//! reads the CPU's time-stamp counter where it is invariant (a few
//! nanoseconds) and falls back to the OS monotonic clock elsewhere; it
//! calibrates the counter against the OS clock once, when the clock is first
//! needed, which [`warm_up`] does at a site's registration so no timed call
//! pays for it.

use std::sync::OnceLock;

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

#[inline]
fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Calibrates the clock now (once per process).
pub(crate) fn warm_up() {
    let _ = clock();
}

/// A reading to pass to [`since`].
#[inline]
pub(crate) fn now() -> u64 {
    clock().raw()
}

/// Nanoseconds elapsed since `start`, a reading of [`now`].
#[inline]
pub(crate) fn since(start: u64) -> u64 {
    let clock = clock();
    clock.delta_as_nanos(start, clock.raw())
}

/// Milliseconds since the Unix epoch (0 before it): how the exports write a
/// wall-clock time.
#[cfg(feature = "serde")]
pub(crate) fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// [`unix_ms`] for `serde(serialize_with)`.
#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
pub(crate) fn serialize_unix_ms<S: serde::Serializer>(
    t: &std::time::SystemTime,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_u64(unix_ms(*t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// One of our readings, bracketed by two OS readings taken just before
    /// and just after it: whatever the scheduler does, our reading was taken
    /// at some OS time within the bracket.
    fn bracketed() -> (Instant, u64, Instant) {
        let before = Instant::now();
        let ours = now();
        (before, ours, Instant::now())
    }

    fn nanos(d: Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap()
    }

    /// Checks the clock's *rate* against the OS clock. Each of our two
    /// readings is bracketed by OS readings, so the OS time between them lies
    /// in `[end.0 - start.2, end.2 - start.0]` however long a preemption
    /// inside a bracket lasted; our elapsed time must fall in that interval,
    /// widened by 2% for the calibration's error. A preemption only widens
    /// the interval (the check stays true, and loses precision), so the
    /// tightest of a few attempts is the one asserted on.
    #[test]
    fn agrees_with_the_os_clock() {
        let mut tightest: Option<(u64, u64, u64)> = None;
        for _ in 0..10 {
            let start = bracketed();
            std::thread::sleep(Duration::from_millis(20));
            let end = bracketed();
            let ours = clock().delta_as_nanos(start.1, end.1);
            let (low, high) = (nanos(end.0 - start.2), nanos(end.2 - start.0));
            if tightest.is_none_or(|(l, h, _)| high - low < h - l) {
                tightest = Some((low, high, ours));
            }
            // Brackets within 1% of the interval: precise enough.
            if (high - low) * 100 < low {
                break;
            }
        }
        let (low, high, ours) = tightest.unwrap();
        assert!(
            ours >= low - low / 50 && ours <= high + high / 50,
            "clock {ours} ns, OS between {low} and {high} ns"
        );
    }

    #[test]
    fn never_goes_backwards() {
        let start = now();
        let mut last = 0;
        for _ in 0..10_000 {
            let d = since(start);
            assert!(d >= last, "{d} < {last}");
            last = d;
        }
    }
}
