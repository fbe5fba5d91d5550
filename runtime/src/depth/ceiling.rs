//! The per-thread ceiling on nested instrumented calls of all functions
//! together.

use std::sync::atomic::{AtomicU32, Ordering};

use super::chain::{chains, HEAD};

/// Name of the environment variable holding the per-thread depth ceiling
/// (see [`set_max_total_depth`]; read at the first registry access).
///
/// ```
/// assert_eq!(instrument_once::control::ENV_MAX_TOTAL_DEPTH, "INSTRUMENT_ONCE_MAX_TOTAL_DEPTH");
/// ```
pub const ENV_MAX_TOTAL_DEPTH: &str = "INSTRUMENT_ONCE_MAX_TOTAL_DEPTH";

/// Default per-thread ceiling on nested instrumented calls.
///
/// 1024 frames is far beyond the nesting of real request handling, and far
/// below the depth at which a default 2 MiB thread stack runs out for
/// functions with ordinary frames, so the ceiling catches runaway recursion
/// before the stack does without ever bothering correct programs.
///
/// ```
/// assert_eq!(instrument_once::DEFAULT_MAX_TOTAL_DEPTH, 1024);
/// ```
pub const DEFAULT_MAX_TOTAL_DEPTH: u32 = 1024;

pub(super) static MAX_TOTAL: AtomicU32 = AtomicU32::new(DEFAULT_MAX_TOTAL_DEPTH);

/// Set the per-thread ceiling on nested instrumented calls of all functions
/// together (default [`DEFAULT_MAX_TOTAL_DEPTH`]; also settable with the
/// environment variable `INSTRUMENT_ONCE_MAX_TOTAL_DEPTH`, read at the first
/// registry access). Past it, instrumentation steps aside: no span, no stats
/// except `depth_overflows`; the function itself runs as usual. `0` is
/// treated as `1`.
///
/// ```
/// instrument_once::set_max_total_depth(4096);
/// assert_eq!(instrument_once::max_total_depth(), 4096);
/// instrument_once::set_max_total_depth(instrument_once::DEFAULT_MAX_TOTAL_DEPTH);
/// ```
pub fn set_max_total_depth(n: u32) {
    // Under the chains' lock, so a chain made meanwhile gets the new value.
    let chains = chains();
    let n = n.max(1);
    MAX_TOTAL.store(n, Ordering::Relaxed);
    for chain in &chains.all {
        chain.set_shallow(shallow(n));
    }
}

/// Below this chain length a push goes to the head and cannot be past the
/// ceiling `limit`: one compare decides both.
pub(super) const fn shallow(limit: u32) -> u32 {
    #[allow(clippy::cast_possible_truncation)] // HEAD is small
    let head = HEAD as u32;
    if limit < head {
        limit
    } else {
        head
    }
}

/// The current per-thread ceiling (see [`set_max_total_depth`]).
///
/// ```
/// assert!(instrument_once::max_total_depth() >= 1);
/// ```
#[inline]
pub fn max_total_depth() -> u32 {
    MAX_TOTAL.load(Ordering::Relaxed)
}
