//! The book: every (request name, function) pair's figures, folded in from
//! each request's tally when the request ends, and the repeat warnings.
//!
//! Folding takes one lock per request, one lookup of the request's name
//! and one lookup per function the request called (a fast hash of the
//! site's index). The book holds at most [`max_pairs`] pairs: a pair past the cap is not added, and
//! its calls are counted as refused (shown by the report and
//! [`crate::diagnose()`]).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::stats::tally::{Counted, KeyHasher};
use crate::stats::Tally;

/// The default cap on (request, function) pairs the book keeps.
///
/// ```
/// assert_eq!(instrument_once::request::DEFAULT_MAX_PAIRS, 10_000);
/// ```
pub const DEFAULT_MAX_PAIRS: usize = 10_000;

/// The default repeat count that makes a warning (see
/// [`set_repeat_warning`]).
///
/// ```
/// assert_eq!(instrument_once::request::DEFAULT_REPEAT_WARNING, 3);
/// ```
pub const DEFAULT_REPEAT_WARNING: u32 = 3;

/// How often one (request, function) pair may warn.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(60);

/// Upper bounds of the calls-per-request histogram (`+Inf` after them).
pub(crate) const CALLS_BOUNDS: [u64; 8] = [1, 2, 3, 5, 10, 20, 50, 100];

static MAX_PAIRS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_PAIRS);
static REPEAT_WARNING: AtomicU32 = AtomicU32::new(DEFAULT_REPEAT_WARNING);

/// Sets the cap on (request, function) pairs the book keeps (default
/// [`DEFAULT_MAX_PAIRS`]). Pairs already kept stay; calls of new pairs past
/// the cap are counted as refused ([`Report::refused_calls`](super::Report::refused_calls)).
///
/// ```
/// instrument_once::request::set_max_pairs(500);
/// assert_eq!(instrument_once::request::max_pairs(), 500);
/// instrument_once::request::set_max_pairs(instrument_once::request::DEFAULT_MAX_PAIRS);
/// ```
pub fn set_max_pairs(pairs: usize) {
    MAX_PAIRS.store(pairs, Ordering::Relaxed);
}

/// The cap on (request, function) pairs (see [`set_max_pairs`]).
///
/// ```
/// assert!(instrument_once::request::max_pairs() > 0);
/// ```
pub fn max_pairs() -> usize {
    MAX_PAIRS.load(Ordering::Relaxed)
}

/// Sets how many repeats of one key by one function in one request make a
/// `tracing` WARN event when the request ends (default
/// [`DEFAULT_REPEAT_WARNING`]; 0 turns the warning off). At most one event
/// per (request, function) per minute.
///
/// ```
/// instrument_once::request::set_repeat_warning(10);
/// assert_eq!(instrument_once::request::repeat_warning(), 10);
/// instrument_once::request::set_repeat_warning(instrument_once::request::DEFAULT_REPEAT_WARNING);
/// ```
pub fn set_repeat_warning(repeats: u32) {
    REPEAT_WARNING.store(repeats, Ordering::Relaxed);
}

/// The repeat count that makes a warning (see [`set_repeat_warning`]).
///
/// ```
/// assert_eq!(instrument_once::request::repeat_warning(), 3);
/// ```
pub fn repeat_warning() -> u32 {
    REPEAT_WARNING.load(Ordering::Relaxed)
}

/// One pair's figures.
#[derive(Clone, Debug, Default)]
pub(crate) struct Line {
    pub(crate) requests: u64,
    pub(crate) calls: u64,
    pub(crate) max_calls: u64,
    pub(crate) repeats: u64,
    pub(crate) max_repeats: u64,
    pub(crate) repeat_ns: u64,
    /// Requests by calls made in them: one count per bound of
    /// [`CALLS_BOUNDS`] (not cumulative), and one past the last.
    pub(crate) per_request: [u64; CALLS_BOUNDS.len() + 1],
    warned_at: Option<Instant>,
}

type Fast = BuildHasherDefault<KeyHasher>;

/// One request name's figures.
#[derive(Default)]
pub(crate) struct Named {
    /// Requests of this name ended (also those that called nothing).
    pub(crate) ended: u64,
    /// By site index.
    pub(crate) lines: HashMap<u32, Line, Fast>,
}

/// The book (see the module documentation).
#[derive(Default)]
pub(crate) struct Book {
    /// By request name.
    pub(crate) requests: HashMap<&'static str, Named, Fast>,
    /// (request, function) pairs kept, in all names.
    pub(crate) pairs: usize,
    /// When a pair past the cap last warned (they share one minute).
    refused_warned_at: Option<Instant>,
    /// Pairs past the cap, and their calls.
    pub(crate) refused_pairs: u64,
    pub(crate) refused_calls: u64,
    /// Calls of functions past what one request's tally holds.
    pub(crate) unslotted: u64,
    /// Calls whose key found no room in their request's tally.
    pub(crate) unkeyed: u64,
}

static BOOK: LazyLock<Mutex<Book>> = LazyLock::new(Mutex::default);

pub(crate) fn book() -> MutexGuard<'static, Book> {
    BOOK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A warning to emit once the book is unlocked.
struct Warning {
    name: &'static str,
    counted: Counted,
}

std::thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<Counted>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Folds an ended request's tally into the book, empties the tally, and
/// emits the repeat warnings it earned.
pub(crate) fn fold(name: &'static str, tally: &Tally) {
    let mut scratch = SCRATCH
        .try_with(|s| std::mem::take(&mut *s.borrow_mut()))
        .unwrap_or_default();
    let (unslotted, unkeyed) = tally.drain(&mut scratch);
    let threshold = u64::from(repeat_warning());
    let cap = max_pairs();
    let mut warnings = Vec::new();
    {
        let mut guard = book();
        let book = &mut *guard;
        book.unslotted += unslotted;
        book.unkeyed += unkeyed;
        let named = book.requests.entry(name).or_default();
        named.ended += 1;
        for counted in scratch.drain(..) {
            let line = match named.lines.get_mut(&counted.site) {
                Some(line) => line,
                None if book.pairs >= cap => {
                    book.refused_pairs += 1;
                    book.refused_calls += counted.calls;
                    // Not kept, but still worth a warning: past the cap is
                    // where a service has the most pairs.
                    if threshold > 0
                        && counted.key_repeats >= threshold
                        && book
                            .refused_warned_at
                            .is_none_or(|at| at.elapsed() >= WARN_EVERY)
                    {
                        book.refused_warned_at = Some(Instant::now());
                        warnings.push(Warning { name, counted });
                    }
                    continue;
                }
                None => {
                    book.pairs += 1;
                    named.lines.entry(counted.site).or_default()
                }
            };
            line.requests += 1;
            line.calls += counted.calls;
            line.max_calls = line.max_calls.max(counted.calls);
            line.repeats += counted.repeats;
            line.max_repeats = line.max_repeats.max(counted.repeats);
            line.repeat_ns += counted.repeat_ns;
            let bucket = CALLS_BOUNDS
                .iter()
                .position(|bound| counted.calls <= *bound)
                .unwrap_or(CALLS_BOUNDS.len());
            line.per_request[bucket] += 1;
            // One key repeated often, not many keys once each.
            if threshold > 0
                && counted.key_repeats >= threshold
                && line.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY)
            {
                line.warned_at = Some(Instant::now());
                warnings.push(Warning { name, counted });
            }
        }
    }
    let _ = SCRATCH.try_with(|s| *s.borrow_mut() = scratch);
    if !warnings.is_empty() {
        warn(&warnings);
    }
}

/// Emits the repeat warnings (outside the book's lock: a subscriber may do
/// anything, calling instrumented code included).
#[cold]
fn warn(warnings: &[Warning]) {
    let sites = crate::registry::sites_by_index();
    for w in warnings {
        let function = usize::try_from(w.counted.site)
            .ok()
            .and_then(|i| sites.get(i))
            .map_or("?", |s| s.qualified_name());
        let repeat_time = Duration::from_nanos(w.counted.repeat_ns);
        tracing::warn!(
            target: "instrument_once::request",
            request = w.name,
            function,
            repeats = w.counted.repeats,
            repeats_of_one_key = w.counted.key_repeats,
            calls = w.counted.calls,
            repeat_time_ms = repeat_time.as_secs_f64() * 1e3,
            "{function} was called {} times with a key it had already been called with \
             in one `{}` request ({} times with one key; {} calls; the repeats took \
             {repeat_time:?})",
            w.counted.repeats,
            w.name,
            w.counted.key_repeats,
            w.counted.calls,
        );
    }
}

/// Forgets every figure (tests, benchmarks).
pub(crate) fn reset() {
    *book() = Book::default();
}
