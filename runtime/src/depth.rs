//! Depth guards: bounded recursion through instrumented code.
//!
//! # Design
//!
//! Each thread keeps, in one thread-local, a table of "how many calls of site
//! *i* are active on this thread's stack" indexed by the site's dense index,
//! and the chain of active instrumented calls, outermost first. Entering a
//! call is an array increment and a push; leaving is the reverse. Nothing is
//! hashed or scanned.
//!
//! For async functions the same table counts *polls* on the stack: a future
//! is on the chain only while it is being polled, so tasks interleaved on
//! one thread never see each other, a task that moves to another thread
//! brings nothing with it, and an async function that awaits itself (boxed
//! recursion) sees its depth grow, since the inner future is polled from
//! inside the outer one's poll.
//!
//! The chain is bounded by the per-thread ceiling ([`set_max_total_depth`]);
//! past it instrumentation steps aside, so it can never be what exhausts
//! memory. The thread-local is reached with `try_with`: a call made while the
//! thread is being torn down simply runs without bookkeeping.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::site::Site;

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

static MAX_TOTAL: AtomicU32 = AtomicU32::new(DEFAULT_MAX_TOTAL_DEPTH);
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

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
    MAX_TOTAL.store(n.max(1), Ordering::Relaxed);
}

/// The current per-thread ceiling (see [`set_max_total_depth`]).
///
/// ```
/// assert!(instrument_once::max_total_depth() >= 1);
/// ```
pub fn max_total_depth() -> u32 {
    MAX_TOTAL.load(Ordering::Relaxed)
}

struct ThreadState {
    /// Active calls (or polls) per site index.
    depths: Vec<u32>,
    /// Active instrumented calls, outermost first, at most the ceiling.
    chain: Vec<&'static Site>,
    /// All active calls, including those past the ceiling.
    total: u32,
    /// Counter shard of this thread.
    shard: u32,
}

thread_local! {
    static STATE: RefCell<ThreadState> = const {
        RefCell::new(ThreadState { depths: Vec::new(), chain: Vec::new(), total: 0, shard: u32::MAX })
    };
}

/// What entering a call found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    /// Depth of this site on the chain, this call included.
    pub(crate) depth: u32,
    /// Counter shard of this thread.
    pub(crate) shard: u32,
    /// Whether the call is past the per-thread ceiling.
    pub(crate) aside: bool,
    /// Whether this frame was pushed (and must be popped).
    pub(crate) pushed: bool,
}

impl Entry {
    /// A call that runs without bookkeeping (the thread-local is gone).
    pub(crate) const UNTRACKED: Entry = Entry {
        depth: 1,
        shard: 0,
        aside: false,
        pushed: false,
    };
}

impl ThreadState {
    #[inline]
    fn shard(&mut self) -> u32 {
        if self.shard == u32::MAX {
            #[allow(clippy::cast_possible_truncation)] // only its value modulo SHARDS matters
            let next = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) as u32;
            self.shard = next;
        }
        self.shard
    }

    #[inline]
    fn slot(&mut self, index: usize) -> &mut u32 {
        if index >= self.depths.len() {
            self.grow(index);
        }
        &mut self.depths[index]
    }

    #[cold]
    fn grow(&mut self, index: usize) {
        self.depths.resize(index + 1, 0);
    }
}

/// Enters a call (or poll) of `site` when `push`: bumps its depth and pushes
/// it on the chain. Without `push`, only looks at the depth the call would
/// have. `None` when `max_depth` would be exceeded; then nothing changed and
/// [`exceeded`] builds the error.
#[inline]
pub(crate) fn enter(
    site: &'static Site,
    index: usize,
    max_depth: u32,
    push: bool,
) -> Option<Entry> {
    let found = STATE.try_with(|cell| {
        let Ok(mut state) = cell.try_borrow_mut() else {
            return Some(Entry::UNTRACKED);
        };
        let slot = state.slot(index);
        let depth = *slot + 1;
        if max_depth != 0 && depth > max_depth {
            return None;
        }
        let aside = state.total >= max_total_depth();
        if push {
            *state.slot(index) = depth;
            state.total += 1;
            if !aside {
                state.chain.push(site);
            }
        }
        Some(Entry {
            depth,
            shard: state.shard(),
            aside,
            pushed: push,
        })
    });
    // Thread-local gone (thread exit): run without bookkeeping.
    found.unwrap_or(Some(Entry::UNTRACKED))
}

/// The error for a call of `site` that would exceed `max_depth` on this
/// thread's chain.
#[cold]
#[inline(never)]
pub(crate) fn exceeded(site: &'static Site, max_depth: u32) -> DepthExceeded {
    STATE
        .try_with(|cell| {
            cell.try_borrow()
                .map(|state| DepthExceeded::new(site, max_depth, &state.chain, state.total))
                .ok()
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| DepthExceeded::new(site, max_depth, &[], 0))
}

/// Leaves what [`enter`] entered.
#[inline]
pub(crate) fn leave(index: usize, entry: Entry) {
    if !entry.pushed {
        return;
    }
    let _ = STATE.try_with(|cell| {
        if let Ok(mut state) = cell.try_borrow_mut() {
            let slot = state.slot(index);
            *slot = slot.saturating_sub(1);
            state.total = state.total.saturating_sub(1);
            if !entry.aside {
                state.chain.pop();
            }
        }
    });
}

/// The instrumented calls active on this thread, outermost first (for async
/// functions: the futures being polled right now). At most the per-thread
/// ceiling many entries are kept.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn outer() -> Vec<&'static str> { inner() }
/// #[instrument_once::instrument_once]
/// fn inner() -> Vec<&'static str> {
///     instrument_once::current_chain().iter().map(|s| s.name()).collect()
/// }
/// # fn main() {
/// assert_eq!(outer(), ["outer", "inner"]);
/// assert!(instrument_once::current_chain().is_empty());
/// # }
/// ```
pub fn current_chain() -> Vec<&'static Site> {
    STATE
        .try_with(|cell| {
            cell.try_borrow()
                .map(|s| s.chain.clone())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// A function was entered more often on one call chain than its `max_depth`
/// allows.
///
/// Returned as `Err(e.into())` by functions annotated with
/// `on_overflow = "error"` (their error type implements
/// `From<DepthExceeded>`); its `Display` is also the message of the panic
/// raised by `on_overflow = "panic"` (the default).
///
/// ```
/// use instrument_once::{instrument_once, DepthExceeded};
///
/// #[derive(Debug)]
/// enum ParseError { TooDeep(DepthExceeded) }
/// impl From<DepthExceeded> for ParseError {
///     fn from(e: DepthExceeded) -> Self { ParseError::TooDeep(e) }
/// }
///
/// #[instrument_once(max_depth = 3, on_overflow = "error")]
/// fn nest(n: u32) -> Result<u32, ParseError> {
///     if n == 0 { Ok(0) } else { Ok(nest(n - 1)? + 1) }
/// }
///
/// # fn main() {
/// assert_eq!(nest(2).unwrap(), 2);
/// let Err(ParseError::TooDeep(e)) = nest(10) else { panic!() };
/// assert_eq!(e.limit(), 3);
/// assert!(e.to_string().contains("max_depth = 3"));
/// # }
/// ```
#[derive(Clone)]
pub struct DepthExceeded {
    function: &'static str,
    limit: u32,
    chain: Vec<&'static str>,
    total: u32,
}

/// How many chain entries `Display` shows at each end before eliding.
const SHOWN: usize = 8;

impl DepthExceeded {
    #[cold]
    #[inline(never)]
    fn new(site: &'static Site, limit: u32, chain: &[&'static Site], total: u32) -> DepthExceeded {
        DepthExceeded {
            function: site.qualified_name(),
            limit,
            chain: chain.iter().map(|s| s.qualified_name()).collect(),
            total,
        }
    }

    /// Qualified name of the function that overflowed.
    ///
    /// ```
    /// # use instrument_once::{instrument_once, DepthExceeded};
    /// #[instrument_once(max_depth = 1, on_overflow = "error")]
    /// fn f(again: bool) -> Result<(), DepthExceeded> { if again { f(false) } else { Ok(()) } }
    /// # fn main() {
    /// assert!(f(true).unwrap_err().function().ends_with("::f"));
    /// # }
    /// ```
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// The `max_depth` that was exceeded.
    ///
    /// ```
    /// # use instrument_once::{instrument_once, DepthExceeded};
    /// #[instrument_once(max_depth = 1, on_overflow = "error")]
    /// fn f(again: bool) -> Result<(), DepthExceeded> { if again { f(false) } else { Ok(()) } }
    /// # fn main() {
    /// assert_eq!(f(true).unwrap_err().limit(), 1);
    /// # }
    /// ```
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Qualified names of the instrumented calls that led here, outermost
    /// first (the overflowing call itself is not included).
    ///
    /// ```
    /// # use instrument_once::{instrument_once, DepthExceeded};
    /// #[instrument_once(max_depth = 1, on_overflow = "error")]
    /// fn f(again: bool) -> Result<(), DepthExceeded> { if again { f(false) } else { Ok(()) } }
    /// # fn main() {
    /// assert_eq!(f(true).unwrap_err().chain().len(), 1);
    /// # }
    /// ```
    pub fn chain(&self) -> &[&'static str] {
        &self.chain
    }
}

impl fmt::Display for DepthExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instrument_once: `{}` exceeded max_depth = {} on one call chain of {} instrumented calls; \
             outermost first: ",
            self.function, self.limit, self.total
        )?;
        // Consecutive repeats of one function are shown once, with a count.
        let mut runs: Vec<(&str, usize)> = Vec::new();
        for name in &self.chain {
            match runs.last_mut() {
                Some((last, n)) if last == name => *n += 1,
                _ => runs.push((name, 1)),
            }
        }
        let show = |f: &mut fmt::Formatter<'_>, (name, n): &(&str, usize)| {
            if *n == 1 {
                write!(f, "{name} -> ")
            } else {
                write!(f, "{name} (x{n}) -> ")
            }
        };
        if runs.len() <= 2 * SHOWN {
            for run in &runs {
                show(f, run)?;
            }
        } else {
            for run in &runs[..SHOWN] {
                show(f, run)?;
            }
            let elided: usize = runs[SHOWN..runs.len() - SHOWN].iter().map(|(_, n)| n).sum();
            write!(f, "... ({elided} calls elided) -> ")?;
            for run in &runs[runs.len() - SHOWN..] {
                show(f, run)?;
            }
        }
        if (self.total as usize) > self.chain.len() {
            write!(
                f,
                "... ({} calls past the per-thread ceiling) -> ",
                self.total as usize - self.chain.len()
            )?;
        }
        write!(f, "{} (overflow)", self.function)
    }
}

impl fmt::Debug for DepthExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for DepthExceeded {}
