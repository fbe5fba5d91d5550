//! Depth guards: bounded recursion through instrumented code.
//!
//! # Design
//!
//! Every instrumented function has its own thread-local depth counter (a
//! `Cell<u32>` the attribute declares next to the function's site), so
//! "how deep is this function on this thread's chain" is one thread-local
//! read. Each thread also keeps the total number of active instrumented
//! calls and the chain of them, outermost first, in fixed-capacity
//! thread-locals made of `Cell`s: the [`HEAD`] outermost calls exactly, and a
//! ring of the [`TAIL`] innermost ones. Entering a call is a few
//! thread-local reads and writes; leaving is the reverse. Nothing is
//! allocated, hashed or scanned, and no thread-local has a destructor.
//!
//! For async functions the same table counts *polls* on the stack: a future
//! is on the chain only while it is being polled, so tasks interleaved on
//! one thread never see each other, a task that moves to another thread
//! brings nothing with it, and an async function that awaits itself (boxed
//! recursion) sees its depth grow, since the inner future is polled from
//! inside the outer one's poll.
//!
//! Past the per-thread ceiling ([`set_max_total_depth`]) instrumentation
//! steps aside; the chain's memory is fixed, so instrumentation can never be
//! what exhausts memory. A chain deeper than `HEAD + TAIL` calls keeps its
//! outermost and innermost calls and counts the ones in between.

use std::cell::Cell;
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

/// Outermost calls of a thread's chain that are always kept.
pub(crate) const HEAD: usize = 16;
/// Innermost calls of a thread's chain that are kept (a ring).
pub(crate) const TAIL: usize = 112;

/// One recorded frame of the chain.
type Frame = Cell<Option<&'static Site>>;

thread_local! {
    /// All active instrumented calls on this thread (past the ceiling too).
    static TOTAL: Cell<u32> = const { Cell::new(0) };
    /// Counter shard of this thread (`u32::MAX` until first needed).
    static SHARD: Cell<u32> = const { Cell::new(u32::MAX) };
    /// The chain: frame `i` lives at `i` for `i < HEAD`, else in the ring.
    static CHAIN: [Frame; HEAD + TAIL] = const { [const { Cell::new(None) }; HEAD + TAIL] };
}

/// Where frame `i` of the chain is stored.
#[inline]
fn slot_of(i: u32) -> usize {
    let i = i as usize;
    if i < HEAD {
        i
    } else {
        HEAD + (i - HEAD) % TAIL
    }
}

/// The per-function depth counter the attribute declares.
#[doc(hidden)]
pub type DepthKey = std::thread::LocalKey<Cell<u32>>;

#[inline]
fn shard() -> u32 {
    SHARD.with(|s| {
        let shard = s.get();
        if shard == u32::MAX {
            #[allow(clippy::cast_possible_truncation)] // only its value modulo SHARDS matters
            let next = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) as u32;
            s.set(next);
            next
        } else {
            shard
        }
    })
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

/// Enters a call (or poll) of `site` when `push`: bumps its depth and the
/// thread's total, and records it on the chain. Without `push`, only looks at
/// the depth the call would have. `None` when `max_depth` would be exceeded;
/// then nothing changed and [`exceeded`] builds the error.
#[inline]
pub(crate) fn enter(
    site: &'static Site,
    key: &'static DepthKey,
    max_depth: u32,
    push: bool,
) -> Option<Entry> {
    // One access to the function's counter (`LocalKey::with` is a call).
    let depth = key.with(|d| {
        let depth = d.get() + 1;
        if max_depth != 0 && depth > max_depth {
            return None;
        }
        if push {
            d.set(depth);
        }
        Some(depth)
    })?;
    let total = TOTAL.with(|t| {
        let total = t.get();
        if push {
            t.set(total + 1);
        }
        total
    });
    if push {
        CHAIN.with(|chain| chain[slot_of(total)].set(Some(site)));
    }
    Some(Entry {
        depth,
        shard: shard(),
        aside: total >= max_total_depth(),
        pushed: push,
    })
}

/// The error for a call of `site` that would exceed `max_depth` on this
/// thread's chain.
#[cold]
#[inline(never)]
pub(crate) fn exceeded(site: &'static Site, max_depth: u32) -> DepthExceeded {
    let (head, tail, total) = recorded_chain();
    DepthExceeded::new(site, max_depth, &head, &tail, total)
}

/// Leaves a call (or poll) that [`enter`] pushed.
#[inline]
pub(crate) fn leave(key: &'static DepthKey) {
    key.with(|d| d.set(d.get().saturating_sub(1)));
    TOTAL.with(|t| t.set(t.get().saturating_sub(1)));
}

/// The recorded chain: its outermost calls, its innermost calls (when some
/// in between were not recorded), and the number of active calls.
fn recorded_chain() -> (Vec<&'static Site>, Vec<&'static Site>, u32) {
    let total = TOTAL.with(Cell::get);
    CHAIN.with(|chain| {
        let at = |i: u32| chain[slot_of(i)].get();
        let n = total as usize;
        if n <= HEAD + TAIL {
            ((0..total).filter_map(at).collect(), Vec::new(), total)
        } else {
            #[allow(clippy::cast_possible_truncation)] // HEAD and TAIL are small
            let (head, tail) = (HEAD as u32, TAIL as u32);
            (
                (0..head).filter_map(at).collect(),
                (total - tail..total).filter_map(at).collect(),
                total,
            )
        }
    })
}

/// The instrumented calls active on this thread, outermost first (for async
/// functions: the futures being polled right now). A chain deeper than 128
/// calls is returned without its middle: the 16 outermost and the 112
/// innermost calls.
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
    let (mut head, tail, _) = recorded_chain();
    head.extend(tail);
    head
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
    /// The recorded chain: outermost calls, then (when `missing > 0`) the
    /// innermost ones.
    chain: Vec<&'static str>,
    /// How many of `chain` come before the unrecorded middle.
    head: usize,
    /// Calls in the middle of a very deep chain that were not recorded.
    missing: usize,
    total: u32,
}

/// How many chain entries `Display` shows at each end before eliding.
const SHOWN: usize = 8;

impl DepthExceeded {
    #[cold]
    #[inline(never)]
    fn new(
        site: &'static Site,
        limit: u32,
        head: &[&'static Site],
        tail: &[&'static Site],
        total: u32,
    ) -> DepthExceeded {
        let recorded = head.len() + tail.len();
        DepthExceeded {
            function: site.qualified_name(),
            limit,
            head: head.len(),
            missing: (total as usize).saturating_sub(recorded),
            chain: head
                .iter()
                .chain(tail)
                .map(|s| s.qualified_name())
                .collect(),
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
    /// first (the overflowing call itself is not included). Of a chain
    /// deeper than 128 calls, the 16 outermost and the 112 innermost.
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
        // Consecutive repeats of one function are shown once, with a count;
        // `None` stands for the unrecorded middle of a very deep chain.
        let mut runs: Vec<(Option<&str>, usize)> = Vec::new();
        for (i, name) in self.chain.iter().enumerate() {
            if i == self.head && self.missing > 0 {
                runs.push((None, self.missing));
            }
            match runs.last_mut() {
                Some((Some(last), n)) if last == name => *n += 1,
                _ => runs.push((Some(name), 1)),
            }
        }
        let show = |f: &mut fmt::Formatter<'_>, run: &(Option<&str>, usize)| match run {
            (Some(name), 1) => write!(f, "{name} -> "),
            (Some(name), n) => write!(f, "{name} (x{n}) -> "),
            (None, n) => write!(f, "... ({n} calls not recorded) -> "),
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
        write!(f, "{} (overflow)", self.function)
    }
}

impl fmt::Debug for DepthExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for DepthExceeded {}
