//! The global timing switch.

use std::sync::atomic::{AtomicBool, Ordering};

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
#[inline]
pub fn timing() -> bool {
    TIMING.load(Ordering::Relaxed)
}
