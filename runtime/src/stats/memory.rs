//! The process-wide budget of latency histogram memory: every window and
//! spill page is charged to it, and past its cap none is allocated (a timed
//! call without a bucket is then counted as such, see
//! [`crate::Latency::unbucketed`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The default cap: 64 MiB, room for about 80,000 thread windows (2,000
/// functions timed on 40 threads each).
///
/// ```
/// assert_eq!(instrument_once::DEFAULT_HISTOGRAM_MEMORY, 64 << 20);
/// ```
pub const DEFAULT_HISTOGRAM_MEMORY: usize = 64 << 20;

/// Name of the environment variable holding the cap, in bytes (`KiB`,
/// `MiB` and `GiB` suffixes allowed), read at the first registry access.
///
/// ```
/// assert_eq!(instrument_once::control::ENV_HISTOGRAM_MEMORY, "INSTRUMENT_ONCE_HISTOGRAM_MEMORY");
/// ```
pub const ENV_HISTOGRAM_MEMORY: &str = "INSTRUMENT_ONCE_HISTOGRAM_MEMORY";

static CAP: AtomicUsize = AtomicUsize::new(DEFAULT_HISTOGRAM_MEMORY);
static USED: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// Set the cap on the memory all latency histograms of the process may
/// take together (default [`DEFAULT_HISTOGRAM_MEMORY`]; also settable with
/// the environment variable `INSTRUMENT_ONCE_HISTOGRAM_MEMORY`). Memory
/// already taken stays; past the cap no histogram memory is allocated, and
/// timed calls that would need it are counted without a bucket
/// ([`crate::Latency::unbucketed`], shown by [`crate::diagnose()`]).
///
/// ```
/// instrument_once::set_histogram_memory_cap(16 << 20);
/// assert_eq!(instrument_once::histogram_memory().cap, 16 << 20);
/// instrument_once::set_histogram_memory_cap(instrument_once::DEFAULT_HISTOGRAM_MEMORY);
/// ```
pub fn set_histogram_memory_cap(bytes: usize) {
    CAP.store(bytes, Ordering::Relaxed);
}

/// How much latency histogram memory the process holds, its cap, and how
/// many allocations the cap refused.
///
/// ```
/// let memory = instrument_once::histogram_memory();
/// assert!(memory.used <= memory.cap || memory.refused > 0);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HistogramMemory {
    /// Bytes held by every window and spill page.
    pub used: usize,
    /// The cap (see [`set_histogram_memory_cap`]).
    pub cap: usize,
    /// Allocations the cap refused.
    pub refused: u64,
}

/// The budget's state (see [`HistogramMemory`]).
///
/// ```
/// assert_eq!(instrument_once::histogram_memory().cap, instrument_once::DEFAULT_HISTOGRAM_MEMORY);
/// ```
pub fn histogram_memory() -> HistogramMemory {
    HistogramMemory {
        used: USED.load(Ordering::Relaxed),
        cap: CAP.load(Ordering::Relaxed),
        refused: REFUSED.load(Ordering::Relaxed),
    }
}

/// Charges `bytes` to the budget; `false` (nothing charged) past the cap.
pub(crate) fn reserve(bytes: usize) -> bool {
    let before = USED.fetch_add(bytes, Ordering::Relaxed);
    if before + bytes > CAP.load(Ordering::Relaxed) {
        USED.fetch_sub(bytes, Ordering::Relaxed);
        REFUSED.fetch_add(1, Ordering::Relaxed);
        false
    } else {
        true
    }
}

/// Gives `bytes` back.
pub(crate) fn release(bytes: usize) {
    USED.fetch_sub(bytes, Ordering::Relaxed);
}

/// A cap as the environment variable writes it: bytes, or a number with a
/// `KiB`, `MiB` or `GiB` suffix.
pub(crate) fn parse_cap(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = [("GiB", 1usize << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        .iter()
        .find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|d| (d.trim(), *unit)))
        .unwrap_or((text, 1));
    digits.parse::<usize>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::parse_cap;

    #[test]
    fn caps_parse_with_their_units() {
        assert_eq!(parse_cap("1024"), Some(1024));
        assert_eq!(parse_cap("64MiB"), Some(64 << 20));
        assert_eq!(parse_cap(" 2 GiB "), Some(2 << 30));
        assert_eq!(parse_cap("12KiB"), Some(12 << 10));
        assert_eq!(parse_cap("lots"), None);
        assert_eq!(parse_cap("64MB"), None);
    }
}
