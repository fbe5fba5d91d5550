//! One instrumented call, from entry to exit: the engine the generated code
//! drives through [`Call`](sync::Call) (a synchronous call) and
//! [`AsyncCall`](future::AsyncCall) (an async one).
//!
//! The attribute declares, for each function (each sync one only in an
//! optimised build), a [`Callee`](reach::Callee) (its site and options, in
//! a `static` without interior mutability), a thread-local, and a
//! zero-sized [`Key`](reach::Key) type that names both. The guards
//! ([`Call`](sync::Call), [`AsyncCall`](future::AsyncCall)) are generic over
//! the key only to carry the callee as a constant, at no size: their
//! methods are thin `#[inline(always)]` wrappers of the engine below. In an
//! optimised build the engine ([`try_begin`], [`end`]) is
//! `#[inline(always)]` too, so each instrumented function gets its own copy
//! in which the callee's fields are constants: branches on options fold
//! away and the thread-local is reached directly.
//!
//! In a build with debug assertions (the dev profile) nothing folds, and
//! per-function copies only cost compile time and code. There the engine
//! is `#[inline(never)]`, compiled once in this crate, and a sync function
//! uses [`SharedCall`](shared::SharedCall), a guard that holds the site as
//! a value, finds the function's state in the thread's table, and is not
//! generic (the attribute emits both forms under `cfg(debug_assertions)`;
//! the function then declares no callee, no thread-local and no key). An async function keeps its generic [`AsyncCall`](future::AsyncCall)
//! in both: the key keeps its future within 16 bytes of
//! `tracing::instrument`'s. The scale benchmark measures the code and
//! compile time each costs. What the per-call path must not carry inline
//! (registration, first blocks, overflow errors) is out of line and mostly
//! `#[cold]` (`benches/icount.sh` counts the instructions).
//!
//! # One call, as data
//!
//! [`begin`] loads the site's `ctl` word once (relaxed): not registered
//! yet, it takes the cold [`prepare`]; switched off (and no `max_depth`),
//! it returns at once. Otherwise it reaches the function's thread-local
//! (its depth, this thread's chain and counter block, attached at the
//! thread's first call), bumps the depth (over `max_depth`: overflow),
//! pushes the call on the chain (past the ceiling: steps aside), and counts
//! the start in the block with a plain load and store. [`Begun`] carries
//! what it decided to [`end`], which stores back the depth and chain length
//! saved at entry and counts the outcome (with the latency when timed).
//!
//! An async call is on the chain during its polls only ([`Enter`]): each
//! poll enters and leaves it, and the poll that completes the call leaves
//! it and counts the outcome in one [`end`]. On an empty chain, the call's
//! start enters it for the first poll, which follows in the same poll of
//! the function's future; most calls complete in that poll.
#![allow(clippy::inline_always)]

pub(crate) mod future;
pub(crate) mod reach;
pub(crate) mod shared;
pub(crate) mod sync;

use std::sync::atomic::Ordering;

use self::reach::Reach;
use crate::clock;

use crate::depth::{max_total_depth, Attached, Chain, LocalAt};
use crate::overflow::{exceeded, DepthExceeded};
use crate::site::{Config, Loaded, Site};
use crate::stats::{timing, Outcome, Tally};

/// What entry decided (`flags`: the flags in the low half, the request
/// bits in the high half), and what exit restores (`saved`: the
/// length of this thread's chain before the call in the low half, the
/// function's depth on this thread before it in the high half; both with
/// [`Begun::TRACKED`], sync). Two `u64`s, so the compiler keeps them in
/// registers: a struct of three `u32`s was copied through the stack with
/// loads wider than its stores, which stalls store forwarding.
#[derive(Clone, Copy)]
pub(crate) struct Begun {
    flags: u64,
    saved: u64,
}

/// The flags of a call.
impl Begun {
    /// On the depth chain (sync: pushed, restored at exit; async: each poll
    /// pushes, see [`Enter`]).
    pub(crate) const TRACKED: u32 = 1;
    /// Counted in the stats.
    pub(crate) const COUNTED: u32 = 1 << 1;
    /// Inside a span.
    pub(crate) const SPAN: u32 = 1 << 2;
    /// `max_depth` would be exceeded: nothing was entered.
    pub(crate) const OVERFLOW: u32 = 1 << 3;
    /// The call is timed: `start` holds a clock reading.
    pub(crate) const TIMED: u32 = 1 << 4;
    /// Counted in the tally of the request the thread runs, on the line in
    /// bits [`Begun::LINE_SHIFT`] and up. (The request bits are kept apart
    /// from the flags in a sync call, in the high half of `flags`: the low
    /// half, which every test reads, still folds to constants. An async
    /// call keeps them in these bits of its own `u32` of flags.)
    pub(crate) const IN_REQUEST: u32 = 1 << 5;
    /// Its `repeats_by` key repeated an earlier call's in the request.
    pub(crate) const REPEAT: u32 = 1 << 6;
    /// Where the tally line of a call [`Begun::IN_REQUEST`] is kept (six
    /// bits: a tally has 64 lines).
    pub(crate) const LINE_SHIFT: u32 = 7;
    /// An async call's start found the chain empty and entered it for the
    /// call's first poll ([`Enter::AsyncFirstPoll`]): that poll leaves it,
    /// restoring [`Begun::FIRST_POLL`].
    pub(crate) const FIRST_FRAME: u32 = 1 << 13;
    /// Nothing to do.
    pub(crate) const OFF: Begun = Begun::new(0);
    /// Every flag (and the tally line).
    pub(crate) const ALL: u32 = Begun::TRACKED
        | Begun::COUNTED
        | Begun::SPAN
        | Begun::OVERFLOW
        | Begun::TIMED
        | Begun::REQUEST
        | Begun::FIRST_FRAME;
    /// The frame of a call entered on an empty chain: leaving it restores
    /// depth 0 and an empty chain.
    pub(crate) const FIRST_POLL: Begun = Begun::new(Begun::TRACKED);
    /// The frame of an async poll that does not enter the chain: nothing to
    /// restore. (`TRACKED` like every other frame of a tracked function's
    /// poll, so that what the exit tests of the flags folds; told apart by
    /// a depth and length no chain reaches.)
    pub(crate) const OFF_CHAIN: Begun = Begun {
        flags: Begun::TRACKED as u64,
        saved: u64::MAX,
    };

    /// The request bits: [`Begun::IN_REQUEST`], [`Begun::REPEAT`], the line.
    pub(crate) const REQUEST: u32 = Begun::IN_REQUEST | Begun::REPEAT | 0x3F << Begun::LINE_SHIFT;

    /// Where the request bits sit in `flags` (its high half).
    const REQUEST_SHIFT: u32 = 32;

    /// The tally line of a call [`Begun::IN_REQUEST`].
    #[inline]
    #[allow(clippy::cast_possible_truncation)] // 6 bits
    pub(crate) const fn line(request: u32) -> u8 {
        ((request >> Begun::LINE_SHIFT) & 0x3F) as u8
    }
}

/// Counts a call in the tally of the request its thread runs; returns the
/// flags that say so ([`Begun::IN_REQUEST`] and the line), or none when
/// the tally has no room for another function (it counts that).
#[cold]
#[inline(never)]
fn attribute(chain: &Chain, site: &Site) -> u32 {
    // The site's index is read again here, not passed: keeping it live
    // across the inlined path cost an instruction on every call.
    chain
        .request()
        .and_then(|tally: &Tally| tally.call(site.index()))
        .map_or(0, |line| {
            Begun::IN_REQUEST | u32::from(line) << Begun::LINE_SHIFT
        })
}

/// Notes a counted call's `repeats_by` key in its request's tally; returns
/// [`Begun::REPEAT`] when an earlier call of the function in the request
/// had the same key.
#[cold]
#[inline(never)]
pub(crate) fn note_key(local: LocalAt, request: u32, hash: u64) -> u32 {
    let repeat = local
        .try_with(|l| {
            l.attached
                .get()
                .and_then(|a| a.chain.request())
                .is_some_and(|tally| tally.key(Begun::line(request), hash))
        })
        .unwrap_or(false);
    if repeat {
        Begun::REPEAT
    } else {
        0
    }
}

impl Begun {
    #[inline]
    pub(crate) const fn new(flags: u32) -> Begun {
        Begun {
            flags: flags as u64,
            saved: 0,
        }
    }

    #[inline]
    #[allow(clippy::cast_possible_truncation)] // flags fit
    pub(crate) const fn flags(self) -> u32 {
        self.flags as u32
    }

    #[inline]
    pub(crate) fn set(&mut self, flag: u32) {
        self.flags |= u64::from(flag);
    }

    /// A poll's frame (its depth and chain length to restore) with the
    /// flags of a call that finished in the poll.
    #[inline]
    fn with(self, finished: Begun) -> Begun {
        Begun {
            flags: self.flags | finished.flags,
            saved: self.saved,
        }
    }

    /// Whether this is [`Begun::OFF_CHAIN`].
    #[inline]
    fn is_off_chain(self) -> bool {
        self.saved == Begun::OFF_CHAIN.saved
    }

    #[inline]
    fn save(&mut self, depth: u32, len_before: u32) {
        self.saved = u64::from(len_before) | u64::from(depth) << 32;
    }

    #[inline]
    #[allow(clippy::cast_possible_truncation)] // the high half
    fn depth(self) -> u32 {
        (self.saved >> 32) as u32
    }

    /// Adds request bits ([`Begun::REQUEST`]).
    #[inline]
    pub(crate) fn set_request(&mut self, bits: u32) {
        self.flags |= u64::from(bits & Begun::REQUEST) << Begun::REQUEST_SHIFT;
    }

    /// The request bits ([`Begun::REQUEST`]).
    #[inline]
    #[allow(clippy::cast_possible_truncation)] // the high half of `flags`
    pub(crate) fn request(self) -> u32 {
        (self.flags >> Begun::REQUEST_SHIFT) as u32
    }

    /// Notes a sync call's `repeats_by` key when the call runs inside a
    /// request (see [`Call::repeats_by`](sync::Call::repeats_by)); `local`
    /// is where the function's thread-local state is. Hashes the key only
    /// then.
    #[inline(always)]
    pub(crate) fn note_repeat_key<T: std::hash::Hash + ?Sized>(&mut self, local: LocalAt, key: &T) {
        let request = self.request();
        if request & Begun::IN_REQUEST != 0 {
            self.set_request(note_key(local, request, crate::stats::tally::key_hash(key)));
        }
    }

    /// Whether [`Begun::REPEAT`] is among the request bits: one bit test
    /// of `flags`, without shifting the bits out first.
    #[inline]
    fn repeated(self) -> bool {
        self.flags & u64::from(Begun::REPEAT) << Begun::REQUEST_SHIFT != 0
    }

    #[inline]
    #[allow(clippy::cast_possible_truncation)] // the low half
    fn len_before(self) -> u32 {
        self.saved as u32
    }
}

/// Registers the site and notes its first enabled call: what a call does
/// the first time. Returns the `ctl` word to go on with.
#[cold]
#[inline(never)]
fn prepare(site: &'static Site) -> u32 {
    let ctl = site.ensure_registered();
    if site.meta.config.timing {
        // Calibrated before the first timed call, not during it.
        clock::warm_up();
    }
    if ctl & Site::ENABLED != 0 {
        site.mark_called(ctl);
        ctl | Site::CALLED
    } else {
        site.mark_called_off(ctl);
        ctl | Site::CALLED_OFF
    }
}

/// How a call enters the depth chain at its start.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enter {
    /// A sync call: pushed, and left at its exit.
    Call,
    /// An async call: each poll enters the chain, but on an empty chain the
    /// start enters it for the first poll ([`Begun::FIRST_FRAME`]).
    AsyncFirstPoll,
    /// An async call that may await before its first poll: each poll
    /// enters the chain, the start does not.
    AsyncPolls,
}

/// Enters a call (see [`Enter`]). [`Begun::OVERFLOW`] when `max_depth`
/// would be exceeded: then nothing changed.
#[inline(always)]
pub(crate) fn begin<R: Reach>(reach: R, enter: Enter) -> Begun {
    let cfg = reach.config();
    let site = reach.site();
    let mut ctl = site.ctl.load_for_call(Ordering::Relaxed);
    let enabled = if ctl.ready_on() {
        true
    } else if ctl.ready_off() {
        false
    } else {
        let prepared = prepare(site);
        ctl = Loaded::of(prepared);
        prepared & Site::ENABLED != 0
    };
    if !cfg.tracks() {
        // Spans only: as cheap as `tracing::instrument`.
        return Begun::new(if enabled { Begun::SPAN } else { 0 });
    }
    if !enabled && cfg.max_depth == 0 {
        return Begun::OFF;
    }
    let key = reach.local();
    // The closure fills `begun` in place: returning it through `try_with`'s
    // result made the compiler copy it through memory.
    let mut begun = Begun::new(Begun::TRACKED);
    let reached = key.try_with(|local| {
        let Some(Attached { chain, block }) = local.attached(site, key) else {
            return false;
        };
        // An empty chain means no instrumented call is active on this
        // thread, so the function's depth is 0 without reading it: then
        // what entry stores and what exit stores back are constants, and
        // back-to-back outermost calls do not wait on each other's stores.
        // (`Chain::push` reads the length again: keeping this reading live
        // across the `max_depth` check measured slower.)
        let empty = enter != Enter::AsyncPolls && chain.len() == 0;
        debug_assert!(!empty || local.depth.get() == 0, "depth without a chain");
        let before = if empty { 0 } else { local.depth.get() };
        let depth = before.wrapping_add(1);
        if cfg.max_depth != 0 && depth > cfg.max_depth {
            begun = Begun::new(Begun::OVERFLOW);
            return true;
        }
        let aside = if enter == Enter::AsyncFirstPoll && empty {
            local.depth.set(1);
            chain.push_first(ctl.index());
            begun.set(Begun::FIRST_FRAME);
            false
        } else if enter == Enter::Call {
            local.depth.set(depth);
            if empty {
                chain.push_first(ctl.index());
                begun.save(0, 0);
                false
            } else {
                let (len_before, aside) = chain.push(ctl.index());
                begun.save(before, len_before);
                aside
            }
        } else {
            chain.len() >= max_total_depth()
        };
        if enabled {
            if aside {
                if cfg.stats {
                    block.overflow();
                }
            } else if !(cfg.outermost && depth > 1) {
                begun.set(Begun::SPAN);
                if cfg.stats {
                    begun.set(Begun::COUNTED);
                    block.start();
                    // Depth 1 needs no note: a snapshot with calls has
                    // `deepest >= 1`.
                    if depth > 1 {
                        site.stats.raise_deepest(depth);
                    }
                    // Inside a request: counted in its tally too. (Outside
                    // one, this is the only cost: a compare with memory and
                    // a branch. Last, so that nothing above must live across
                    // its call.)
                    if chain.request().is_some() {
                        let bits = attribute(chain, site);
                        if enter == Enter::Call {
                            begun.set_request(bits);
                        } else {
                            // An async call keeps them among its flags
                            // (see `Begun::IN_REQUEST`).
                            begun.set(bits);
                        }
                    }
                }
            }
        }
        true
    });
    if reached == Some(true) {
        begun
    } else {
        untracked(site, cfg, enabled)
    }
}

/// Entry when this thread's thread-locals are being destroyed (a call from a
/// thread-local destructor at thread exit): no depth bookkeeping, counts in
/// the site's shared counters.
#[cold]
#[inline(never)]
fn untracked(site: &'static Site, cfg: Config, enabled: bool) -> Begun {
    if !enabled || cfg.outermost {
        return Begun::OFF;
    }
    let mut begun = Begun::new(Begun::SPAN);
    if cfg.stats {
        begun.set(Begun::COUNTED);
        site.stats.start_shared();
    }
    begun
}

/// Records the outcome of a call and, for a sync call ([`Begun::TRACKED`]), leaves
/// the depth chain by restoring the depth and chain length it had before:
/// a store, not a read-modify-write, so back-to-back calls do not wait on
/// each other's stores (and a chain can never drift).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline(never))]
pub(crate) fn end<R: Reach>(reach: R, begun: Begun, start: u64, outcome: Outcome) {
    let cfg = reach.config();
    // Without stats nothing is ever counted: say so, so the tests fold.
    let flags = if cfg.stats {
        begun.flags()
    } else {
        begun.flags() & !Begun::COUNTED
    };
    if flags & (Begun::TRACKED | Begun::COUNTED) == 0 {
        return;
    }
    let site = reach.site();
    let elapsed = match outcome {
        Outcome::Ok | Outcome::Err if cfg.timing && flags & Begun::TIMED != 0 => {
            Some(clock::since(start))
        }
        _ => None,
    };
    let done = reach.local().try_with(|local| {
        // A call entered untracked finds nothing attached here either.
        let Some(Attached { chain, block }) = local.attached.get() else {
            return false;
        };
        if flags & Begun::TRACKED != 0 {
            local.depth.set(begun.depth());
            chain.restore(begun.len_before());
        }
        if flags & Begun::COUNTED != 0 {
            match elapsed {
                Some(ns) => block.finish_timed(outcome, ns),
                None => block.finish(outcome, cfg.timing),
            }
            if cfg.repeats && begun.repeated() {
                repeated(chain, site, begun.request(), elapsed);
            }
        }
        true
    });
    if done != Some(true) && flags & Begun::COUNTED != 0 {
        site.stats.finish_shared(outcome, elapsed, cfg.timing);
    }
}

/// Adds the time a repeated call took to its request's tally.
#[cold]
#[inline(never)]
fn repeated(chain: &Chain, site: &Site, request: u32, elapsed: Option<u64>) {
    if let (Some(tally), Some(ns)) = (chain.request(), elapsed) {
        tally.repeat_time(Begun::line(request), site.index(), ns);
    }
}

/// Starts the clock of a counted call when it is timed: marks `begun`
/// [`Begun::TIMED`] and returns the reading (`0` when untimed).
#[inline(always)]
fn start_clock(cfg: Config, begun: &mut Begun) -> u64 {
    if cfg.timing && begun.flags() & Begun::COUNTED != 0 && timing() {
        begun.set(Begun::TIMED);
        clock::now()
    } else {
        0
    }
}

/// Enters a call ([`begin`]) and starts its clock; `Err`, with the
/// overflow counted, when `max_depth` would be exceeded.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline(never))]
pub(crate) fn try_begin<R: Reach>(reach: R, enter: Enter) -> Result<(Begun, u64), DepthExceeded> {
    let mut begun = begin(reach, enter);
    // Only a `max_depth` overflows: the test folds away without one.
    if reach.config().max_depth != 0 && begun.flags() & Begun::OVERFLOW != 0 {
        return Err(overflowed(reach.site(), reach.config(), reach.local()));
    }
    let start = start_clock(reach.config(), &mut begun);
    Ok((begun, start))
}

/// Enters a call ([`try_begin`]); panics with the [`DepthExceeded`]
/// message when `max_depth` would be exceeded, located at the caller's
/// caller (`#[track_caller]` all the way from the generated code).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline(never))]
#[track_caller]
pub(crate) fn begin_or_panic<R: Reach>(reach: R, enter: Enter) -> (Begun, u64) {
    // A `match`, not a closure: the panic's location is the caller's.
    match try_begin(reach, enter) {
        Ok(begun) => begun,
        Err(e) => overflow_panic(&e),
    }
}

/// The outcome of a call that left without [`Call::finish`](sync::Call::finish). An inline body
/// that leaves with `return` while a panic is already unwinding (called from
/// a destructor) is counted as a panic: the thread cannot tell the two
/// apart.
#[cold]
#[inline(never)]
pub(crate) fn unfinished() -> Outcome {
    if std::thread::panicking() {
        Outcome::Panic
    } else {
        Outcome::Ok
    }
}

/// Counts an overflow and builds its error.
#[cold]
#[inline(never)]
fn overflowed(site: &'static Site, cfg: Config, local: LocalAt) -> DepthExceeded {
    if site.ctl.load(Ordering::Relaxed) & Site::ENABLED != 0
        && cfg.stats
        && local
            .try_with(|l| l.attached(site, local).map(|a| a.block.overflow()))
            .flatten()
            .is_none()
    {
        site.stats.overflow_shared();
    }
    exceeded(site, cfg.max_depth)
}

#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn overflow_panic(e: &DepthExceeded) -> ! {
    panic!("{e}")
}

// The link-time list's entry of an instrumented function counts as
// `unsafe_code` inside this crate.
/// Calls, across threads, with the blocks they count in.
#[cfg(all(test, not(loom)))]
#[allow(unsafe_code)]
mod tests {
    #[crate::instrument_once(crate = crate, timing = false)]
    fn churned() {}

    #[test]
    fn exited_threads_hand_their_blocks_and_counts_to_later_threads() {
        // One thread at a time: every thread takes over the block the previous
        // one gave back at exit, counts included.
        for _ in 0..50 {
            std::thread::spawn(|| (0..10).for_each(|_| churned()))
                .join()
                .unwrap();
        }
        // Looked up once called: without the static registry a function is
        // listed from its first call.
        let site = crate::registry()
            .get(concat!(module_path!(), "::churned"))
            .unwrap();
        assert_eq!(site.stats().calls, 500);
        assert_eq!(site.stats().ok, 500);
        assert_eq!(site.stats.block_count(), 1);
        // Four threads at once need four blocks; the next four reuse them.
        for _ in 0..2 {
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let barrier = std::sync::Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        churned();
                        barrier.wait();
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
        assert_eq!(site.stats.block_count(), 4);
        let s = site.stats();
        assert_eq!((s.calls, s.ok, s.in_flight), (508, 508, 0));
    }
}
