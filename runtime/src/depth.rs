//! Depth guards: bounded recursion through instrumented code.
//!
//! # Design
//!
//! Every instrumented function has its own thread-local (a [`Local`] the
//! attribute declares next to the function's site, so the access compiles to
//! a direct thread-local load in the function's own crate) holding the
//! function's depth on this thread's chain and, attached at the thread's
//! first call of the function, this thread's [`Chain`] and this thread's
//! block of the function's counters. "How deep is this function here" is one
//! thread-local read.
//!
//! A [`Chain`] is the thread's total number of active instrumented calls and
//! their sites, outermost first, in fixed capacity: the [`HEAD`] outermost
//! calls exactly, and a ring of the [`TAIL`] innermost ones (each frame is the
//! site's registry index). Entering a call bumps the function's depth and the
//! chain's total and records the frame, all inline in the caller; leaving
//! stores back the depth and the total saved at entry. On an empty chain (an
//! outermost call) the function's depth is known to be 0 without reading it,
//! so entry and exit store constants and consecutive outermost calls do not
//! wait on each other's stores. Nothing is allocated,
//! hashed or scanned, and nothing is shared with another thread: a chain
//! (like a counter block) is only handed to a new thread, through a mutex,
//! after its thread exited.
//!
//! For async functions the same bookkeeping counts *polls* on the stack: a future
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

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::site::Site;
use crate::stats::Block;
use std::thread::LocalKey;

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
        chain.shallow.store(shallow(n), Ordering::Relaxed);
    }
}

/// Below this chain length a push goes to the head and cannot be past the
/// ceiling `limit`: one compare decides both.
const fn shallow(limit: u32) -> u32 {
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

/// Outermost calls of a thread's chain that are always kept.
pub(crate) const HEAD: usize = 16;
/// Innermost calls of a thread's chain that are kept (a ring; a power of
/// two, so the slot is a mask).
pub(crate) const TAIL: usize = 128;

/// A thread's chain of active instrumented calls.
///
/// While a thread holds a chain only that thread touches it (but for
/// `shallow`, which [`set_max_total_depth`] stores from any thread), so the
/// relaxed atomics compile to plain loads and stores; they are atomics
/// because a chain goes back to a free list when its thread exits and the
/// next new thread takes it over (through the list's mutex). So the number
/// of chains is the largest number of threads that ran instrumented code at
/// once.
pub(crate) struct Chain {
    /// All active instrumented calls (past the ceiling too).
    total: AtomicU32,
    /// The smaller of [`HEAD`] and the ceiling (kept by
    /// [`set_max_total_depth`]).
    shallow: AtomicU32,
    /// Registry index of the site of each of the [`HEAD`] outermost calls.
    head: [AtomicU32; HEAD],
    /// Registry index of the site of call `i >= HEAD` at `i % TAIL`.
    ring: [AtomicU32; TAIL],
}

impl Chain {
    /// Puts a call (or poll) of the site with registry index `index` on the
    /// chain, and returns the number of calls that were on it before: the
    /// value [`Chain::restore`] puts back when the call ends. A call pushed
    /// with the chain already at the per-thread ceiling steps aside.
    #[inline]
    pub(crate) fn push(&self, index: u32) -> (u32, bool) {
        let total = self.total.load(Ordering::Relaxed);
        self.total.store(total.wrapping_add(1), Ordering::Relaxed);
        // A shallow chain (the common case) is one compare: the frame goes
        // to the head and the ceiling is not reached. Two stores under a
        // branch rather than one at a computed slot: the store's address is
        // known as soon as `total` is (`benches/src/bin/ab.rs`).
        if total < self.shallow.load(Ordering::Relaxed) {
            self.head[total as usize & (HEAD - 1)].store(index, Ordering::Relaxed);
            (total, false)
        } else {
            (total, self.push_deep(total, index))
        }
    }

    /// [`Chain::push`] on an empty chain (the ceiling is at least 1).
    #[inline]
    pub(crate) fn push_first(&self, index: u32) {
        self.total.store(1, Ordering::Relaxed);
        self.head[0].store(index, Ordering::Relaxed);
    }

    /// [`Chain::push`] past the head or near a low ceiling.
    #[cold]
    #[inline(never)]
    fn push_deep(&self, total: u32, index: u32) -> bool {
        let i = total as usize;
        if i < HEAD {
            self.head[i].store(index, Ordering::Relaxed);
        } else {
            self.ring[i & (TAIL - 1)].store(index, Ordering::Relaxed);
        }
        total >= MAX_TOTAL.load(Ordering::Relaxed)
    }

    /// Ends the innermost call: the chain's length goes back to `total`,
    /// what [`Chain::push`] returned for it.
    #[inline]
    pub(crate) fn restore(&self, total: u32) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// The number of calls on the chain.
    #[inline]
    pub(crate) fn total(&self) -> u32 {
        self.total.load(Ordering::Relaxed)
    }

    /// The recorded chain: its outermost calls, its innermost calls (when
    /// some in between were not recorded), and the number of active calls.
    fn recorded(&self) -> (Vec<&'static Site>, Vec<&'static Site>, u32) {
        let total = self.total.load(Ordering::Relaxed);
        let indices = |range: std::ops::Range<u32>| -> Vec<u32> {
            range
                .map(|i| {
                    let i = i as usize;
                    if i < HEAD {
                        self.head[i].load(Ordering::Relaxed)
                    } else {
                        self.ring[i & (TAIL - 1)].load(Ordering::Relaxed)
                    }
                })
                .collect()
        };
        let (head, tail) = if total as usize <= HEAD + TAIL {
            (indices(0..total), Vec::new())
        } else {
            #[allow(clippy::cast_possible_truncation)] // HEAD and TAIL are small
            let (head, tail) = (HEAD as u32, TAIL as u32);
            (indices(0..head), indices(total - tail..total))
        };
        let inner = crate::registry::lock();
        let site = |i: u32| inner.sites.get(i as usize).copied();
        (
            head.into_iter().filter_map(site).collect(),
            tail.into_iter().filter_map(site).collect(),
            total,
        )
    }
}

/// Every chain, and those of exited threads.
struct Chains {
    all: Vec<&'static Chain>,
    free: Vec<&'static Chain>,
}

static CHAINS: Mutex<Chains> = Mutex::new(Chains {
    all: Vec::new(),
    free: Vec::new(),
});

fn chains() -> std::sync::MutexGuard<'static, Chains> {
    CHAINS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a function's thread-local points at once attached: this thread's
/// chain, and this thread's block of the function's counters.
#[derive(Clone, Copy)]
pub(crate) struct Attached {
    pub(crate) chain: &'static Chain,
    pub(crate) block: &'static Block,
}

/// The per-function thread-local the attribute declares: how deep the
/// function is on this thread's chain, and this thread's chain and block of
/// the function's counters (attached together at the thread's first call of
/// the function, so one check covers both). It has no destructor, so
/// reaching it is a plain thread-local access that cannot fail; this
/// thread's [`OWNED`] list unhooks it and gives the chain and the block back
/// when the thread exits.
#[doc(hidden)]
pub struct Local {
    pub(crate) depth: Cell<u32>,
    pub(crate) attached: Cell<Option<Attached>>,
}

impl Local {
    /// The initial value (a `const` for `thread_local!`).
    #[must_use]
    pub const fn new() -> Local {
        Local {
            depth: Cell::new(0),
            attached: Cell::new(None),
        }
    }

    /// This thread's chain and block of `site`'s counters; `key` is the
    /// thread-local that holds `self`. `None` once the thread's own
    /// thread-locals are being destroyed: then the call runs without depth
    /// bookkeeping and counts in the site's shared counters.
    #[inline]
    pub(crate) fn attached(
        &self,
        site: &'static Site,
        key: &'static LocalKey<Local>,
    ) -> Option<Attached> {
        match self.attached.get() {
            Some(attached) => Some(attached),
            None => self.attach(site, key),
        }
    }

    #[cold]
    #[inline(never)]
    fn attach(&self, site: &'static Site, key: &'static LocalKey<Local>) -> Option<Attached> {
        OWNED
            .try_with(|owned| {
                let chain = owned.chain.get().unwrap_or_else(|| {
                    let mut chains = chains();
                    let chain = chains.free.pop().unwrap_or_else(|| {
                        let chain: &'static Chain = Box::leak(Box::new(Chain {
                            total: AtomicU32::new(0),
                            shallow: AtomicU32::new(shallow(MAX_TOTAL.load(Ordering::Relaxed))),
                            head: [const { AtomicU32::new(0) }; HEAD],
                            ring: [const { AtomicU32::new(0) }; TAIL],
                        }));
                        chains.all.push(chain);
                        chain
                    });
                    owned.chain.set(Some(chain));
                    chain
                });
                owned.keys.borrow_mut().push(key);
                let attached = Attached {
                    chain,
                    block: site.stats.new_block(site),
                };
                self.attached.set(Some(attached));
                attached
            })
            .ok()
    }
}

impl Default for Local {
    fn default() -> Local {
        Local::new()
    }
}

/// What a thread holds: its chain, and the thread-locals pointing at it
/// (each also holding a block).
struct Owned {
    chain: Cell<Option<&'static Chain>>,
    keys: RefCell<Vec<&'static LocalKey<Local>>>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        for key in self.keys.get_mut().drain(..) {
            // A `Local` has no destructor, so it outlives this one: unhook it
            // before another thread can take over its chain and block.
            let _ = key.try_with(|local| {
                local.depth.set(0);
                if let Some(attached) = local.attached.take() {
                    attached.block.release();
                }
            });
        }
        if let Some(chain) = self.chain.take() {
            chain.total.store(0, Ordering::Relaxed);
            chains().free.push(chain);
        }
    }
}

thread_local! {
    /// This thread's chain, and what to give back at thread exit.
    static OWNED: Owned = const {
        Owned {
            chain: Cell::new(None),
            keys: RefCell::new(Vec::new()),
        }
    };
}

/// The number of counter blocks `site` holds (for tests).
#[doc(hidden)]
pub fn block_count(site: &Site) -> usize {
    site.stats.block_count()
}

/// The error for a call of `site` that would exceed `max_depth` on this
/// thread's chain.
#[cold]
#[inline(never)]
pub(crate) fn exceeded(site: &'static Site, max_depth: u32) -> DepthExceeded {
    let (head, tail, total) = recorded_chain();
    DepthExceeded::new(site, max_depth, &head, &tail, total)
}

/// This thread's recorded chain (see [`Chain::recorded`]).
fn recorded_chain() -> (Vec<&'static Site>, Vec<&'static Site>, u32) {
    OWNED
        .try_with(|owned| owned.chain.get())
        .ok()
        .flatten()
        .map_or_else(|| (Vec::new(), Vec::new(), 0), Chain::recorded)
}

/// The instrumented calls active on this thread, outermost first (for async
/// functions: the futures being polled right now). A chain deeper than 144
/// calls is returned without its middle: the 16 outermost and the 128
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
    /// deeper than 144 calls, the 16 outermost and the 128 innermost.
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
