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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn agrees_with_the_os_clock() {
        let (t0, s0) = (Instant::now(), now());
        std::thread::sleep(Duration::from_millis(20));
        let (ours, os) = (since(s0), t0.elapsed());
        let os = u64::try_from(os.as_nanos()).unwrap();
        // Within 5% (and the two reads are a few ns apart).
        assert!(ours.abs_diff(os) < os / 20, "clock {ours} ns, OS {os} ns");
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
