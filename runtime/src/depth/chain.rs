//! A thread's chain of active instrumented calls, in fixed capacity.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::stats::Tally;

use super::ceiling::{shallow, MAX_TOTAL};
use super::local::OWNED;

/// Outermost calls of a thread's chain that are always kept.
pub(crate) const HEAD: usize = 16;
/// Innermost calls of a thread's chain that are kept (a ring; a power of
/// two, so the slot is a mask).
pub(crate) const TAIL: usize = 128;

/// A thread's chain of active instrumented calls.
///
/// While a thread holds a chain only that thread touches it (but for
/// `shallow`, which [`set_max_total_depth`](super::set_max_total_depth)
/// stores from any thread, so it is an atomic). A chain goes back to a free
/// list when its thread exits and the next new thread takes it over
/// (through the list's mutex), so the number of chains is the largest
/// number of threads that ran instrumented code at once. The other fields
/// are relaxed atomics too (they compile to plain loads and stores) and
/// need no `unsafe`; only the request, which every counted call tests, is
/// a [`HolderOnly`] cell.
pub(crate) struct Chain {
    /// How many instrumented calls are active (past the ceiling too).
    len: AtomicU32,
    /// The smaller of [`HEAD`] and the ceiling (kept by
    /// [`set_max_total_depth`](super::set_max_total_depth)).
    shallow: AtomicU32,
    /// Registry index of the site of each of the [`HEAD`] outermost calls.
    head: [AtomicU32; HEAD],
    /// Registry index of the site of call `i >= HEAD` at `i % TAIL`.
    ring: [AtomicU32; TAIL],
    /// The tally of the request the thread is running (see
    /// `crate::request`). Tallies are never freed.
    request: HolderOnly<Option<&'static Tally>>,
}

/// A field of a [`Chain`] that only the thread holding the chain reads or
/// writes: a plain [`Cell`], so that reading it is a plain load, which the
/// compiler folds into the compare that tests it (an atomic load, even a
/// relaxed one, is an instruction of its own: it cost every call outside a
/// request one instruction, `benches/icount.sh`).
struct HolderOnly<T>(Cell<T>);

// SAFETY: a `HolderOnly` is only reached through a `Chain`, and only the
// thread holding that chain touches this field. Every access finds the
// chain through the thread's own thread-locals while they live: `call`
// through the function's `Local` (unhooked before the chain is given
// back), `request::scope` through `this_chain`/`held_chain` each time
// (its `Open` and `Installed` keep no chain across threads: neither is
// `Send`, and `Open` looks the chain up again when dropped, finding none
// once the thread-locals are being destroyed), and `clear` in the exiting
// thread's destructor. A chain changes threads only through the `CHAINS`
// mutex: `give_back` (after the last access of the thread that exits) and
// `take_chain` (before the first access of the next) lock it, so the two
// threads' accesses are ordered and never race. Other threads reach a
// chain only for `shallow`, an atomic. `T: Send`: the value moves with it.
#[allow(unsafe_code)]
unsafe impl<T: Send> Sync for HolderOnly<T> {}

impl Chain {
    /// A new, empty chain.
    fn new() -> Chain {
        Chain {
            len: AtomicU32::new(0),
            shallow: AtomicU32::new(shallow(MAX_TOTAL.load(Ordering::Relaxed))),
            head: [const { AtomicU32::new(0) }; HEAD],
            ring: [const { AtomicU32::new(0) }; TAIL],
            request: HolderOnly(Cell::new(None)),
        }
    }

    /// The tally of the request this thread is running, if any: a plain
    /// load (see [`HolderOnly`]).
    #[inline]
    pub(crate) fn request(&self) -> Option<&'static Tally> {
        self.request.0.get()
    }

    /// Installs (or, with `None`, removes) the tally of the request this
    /// thread runs from now on.
    #[inline]
    pub(crate) fn set_request(&self, tally: Option<&'static Tally>) {
        self.request.0.set(tally);
    }

    /// Puts a call (or poll) of the site with registry index `index` on the
    /// chain, and returns the chain's length before it (what
    /// [`Chain::restore`] puts back when the call ends), and whether the
    /// call is past the per-thread ceiling (then it steps aside).
    #[inline]
    pub(crate) fn push(&self, index: u32) -> (u32, bool) {
        let len_before = self.len.load(Ordering::Relaxed);
        self.len
            .store(len_before.wrapping_add(1), Ordering::Relaxed);
        // A shallow chain (the common case) is one compare: the frame goes
        // to the head and the ceiling is not reached. Two stores under a
        // branch rather than one at a computed slot: the store's address is
        // known as soon as the length is (`benches/src/bin/ab.rs`).
        if len_before < self.shallow.load(Ordering::Relaxed) {
            self.head[len_before as usize & (HEAD - 1)].store(index, Ordering::Relaxed);
            (len_before, false)
        } else {
            (len_before, self.push_deep(len_before, index))
        }
    }

    /// [`Chain::push`] on an empty chain (the ceiling is at least 1).
    #[inline]
    pub(crate) fn push_first(&self, index: u32) {
        self.len.store(1, Ordering::Relaxed);
        self.head[0].store(index, Ordering::Relaxed);
    }

    /// [`Chain::push`] past the head or near a low ceiling.
    #[cold]
    #[inline(never)]
    fn push_deep(&self, len_before: u32, index: u32) -> bool {
        let i = len_before as usize;
        if i < HEAD {
            self.head[i].store(index, Ordering::Relaxed);
        } else {
            self.ring[i & (TAIL - 1)].store(index, Ordering::Relaxed);
        }
        len_before >= MAX_TOTAL.load(Ordering::Relaxed)
    }

    /// Ends the innermost call: the chain's length goes back to
    /// `len_before`, what [`Chain::push`] returned for it.
    #[inline]
    pub(crate) fn restore(&self, len_before: u32) {
        self.len.store(len_before, Ordering::Relaxed);
    }

    /// The number of calls on the chain.
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.len.load(Ordering::Relaxed)
    }

    /// Empties the chain (its thread exited).
    pub(super) fn clear(&self) {
        self.len.store(0, Ordering::Relaxed);
        self.set_request(None);
    }

    /// Keeps the ceiling's share of the head (see [`super::set_max_total_depth`]).
    pub(super) fn set_shallow(&self, shallow: u32) {
        self.shallow.store(shallow, Ordering::Relaxed);
    }

    /// The recorded calls: the registry indices of the outermost ones and,
    /// when some in between were not recorded, of the innermost ones.
    fn recorded(&self) -> Recorded {
        let len = self.len.load(Ordering::Relaxed);
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
        if len as usize <= HEAD + TAIL {
            Recorded {
                outermost: indices(0..len),
                innermost: Vec::new(),
                len,
            }
        } else {
            #[allow(clippy::cast_possible_truncation)] // HEAD and TAIL are small
            let (head, tail) = (HEAD as u32, TAIL as u32);
            Recorded {
                outermost: indices(0..head),
                innermost: indices(len - tail..len),
                len,
            }
        }
    }
}

/// A thread's chain as recorded, by registry index.
pub(crate) struct Recorded {
    /// The outermost calls (all of them when `innermost` is empty).
    pub(crate) outermost: Vec<u32>,
    /// The innermost calls, when the middle was not recorded.
    pub(crate) innermost: Vec<u32>,
    /// How many calls are active.
    pub(crate) len: u32,
}

/// This thread's recorded chain (empty when the thread has none).
pub(crate) fn recorded_chain() -> Recorded {
    OWNED
        .try_with(|owned| owned.chain.get())
        .ok()
        .flatten()
        .map_or_else(
            || Recorded {
                outermost: Vec::new(),
                innermost: Vec::new(),
                len: 0,
            },
            Chain::recorded,
        )
}

/// Every chain, and those of exited threads.
pub(super) struct Chains {
    pub(super) all: Vec<&'static Chain>,
    pub(super) free: Vec<&'static Chain>,
}

static CHAINS: Mutex<Chains> = Mutex::new(Chains {
    all: Vec::new(),
    free: Vec::new(),
});

pub(super) fn chains() -> MutexGuard<'static, Chains> {
    CHAINS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A chain for a thread: a free one, or a new one.
pub(super) fn take_chain() -> &'static Chain {
    let mut chains = chains();
    chains.free.pop().unwrap_or_else(|| {
        let chain: &'static Chain = Box::leak(Box::new(Chain::new()));
        chains.all.push(chain);
        chain
    })
}

/// Gives an exited thread's chain back.
pub(super) fn give_back(chain: &'static Chain) {
    chain.clear();
    chains().free.push(chain);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_chain_given_back_in_a_request_is_taken_without_it() {
        // `give_back` clears the chain: the exiting thread's request
        // (however it was left) must not reach the thread that takes the
        // chain over. (A fresh chain, not one from the shared free list,
        // which other tests' threads take from.)
        let chain = Chain::new();
        chain.set_request(Some(Tally::leak()));
        chain.push_first(7);
        chain.clear();
        assert!(chain.request().is_none());
        assert_eq!(chain.len(), 0);
    }
}
