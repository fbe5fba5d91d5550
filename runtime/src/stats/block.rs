//! Per-thread counter blocks, and what a site's blocks share.
//!
//! Each thread that calls a function counts into its own [`Block`] of that
//! function (128 bytes, cache-line aligned): only that thread writes it, so
//! a count is a plain load and store. A thread that times the function also
//! gets a histogram [`Window`] of its own (see [`super::histogram`]). What
//! the blocks of one function share is [`Shared`]: the list of blocks, the
//! spill for values outside every window, the longest latency, and the
//! counters of calls made without a block.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::event::{Counters, Event, Outcome};
use super::histogram::{Buckets, Spill, Window};
use super::memory;
use crate::sync::{lock, Mutex, Ordering as SyncOrdering};

/// One thread's counters (and histogram window) for one function.
///
/// A block belongs to one thread at a time: the function's thread-local on
/// that thread points at it, and only that thread writes it. When the
/// thread exits, the block goes to the function's free list *with its
/// counts*, and the next thread that calls the function takes it over and
/// keeps adding: nothing is folded or moved, so no reader can see a count
/// twice or lose it, and a function holds as many blocks as the most
/// threads that used it at once.
#[repr(align(128))]
pub(crate) struct Block {
    pub(super) counters: Counters,
    /// This thread's histogram window: set at its first timed return that
    /// the memory cap allows (until then each timed return asks again).
    window: OnceLock<Box<Window>>,
    home: &'static Shared,
}

impl Block {
    /// Counts a start.
    #[inline]
    pub(crate) fn start(&self) {
        self.counters.bump(Event::Call, SyncOrdering::Relaxed);
    }

    /// Counts an outcome without a latency (a return untimed, a panic or a
    /// cancellation). `timed`: the function's options time it. Only then is
    /// a return counted as `untimed` too: a function without timing returns
    /// untimed every time, which a snapshot reads from its options (see
    /// [`SiteStats::snapshot`](super::SiteStats::snapshot)), so its calls
    /// bump one counter fewer.
    #[inline]
    pub(crate) fn finish(&self, outcome: Outcome, timed: bool) {
        if timed && outcome.returned() {
            self.counters.bump(Event::Untimed, SyncOrdering::Relaxed);
        }
        self.counters.bump(outcome.event(), SyncOrdering::Release);
    }

    /// Counts a step aside (`max_depth` or the per-thread ceiling).
    #[inline]
    pub(crate) fn overflow(&self) {
        self.counters.bump(Event::Overflow, SyncOrdering::Relaxed);
    }

    /// Counts a return that took `ns` nanoseconds: its bucket first, then
    /// its outcome (release), so a reader that counts the return sees its
    /// bucket.
    ///
    /// The common case makes no call (so it saves no registers): the
    /// thread's window holds the value's bucket, and the value is no new
    /// longest latency. Nothing is written unless all of that holds, so
    /// otherwise the general path starts from scratch. (Not inlined: one
    /// copy serves every function.)
    #[inline(never)]
    pub(crate) fn finish_timed(&self, outcome: Outcome, ns: u64) {
        if let Some(window) = self.window.get() {
            if ns <= self.home.max_ns() && window.record_in_window(ns) {
                self.counters.bump(outcome.event(), SyncOrdering::Release);
                return;
            }
        }
        self.finish_timed_anywhere(outcome, ns);
    }

    /// [`Block::finish_timed`] in general: the first value, a value
    /// outside the window (it slides, or the spill takes it), a new
    /// longest, a carry, or 0 ns.
    #[cold]
    #[inline(never)]
    fn finish_timed_anywhere(&self, outcome: Outcome, ns: u64) {
        let bucketed = match self.window.get() {
            Some(window) => window.record(ns) || self.home.spill(ns, false),
            None => self.first_timed(ns),
        };
        if !bucketed {
            self.counters.bump(Event::Unbucketed, SyncOrdering::Relaxed);
        }
        self.home.note_max(ns);
        self.counters.bump(outcome.event(), SyncOrdering::Release);
    }

    /// Records a latency for a block without a window: makes the window,
    /// or spills the value when the memory cap refuses one.
    #[cold]
    #[inline(never)]
    fn first_timed(&self, ns: u64) -> bool {
        match Window::new() {
            // Only the owning thread sets the window: it was still unset.
            Some(window) => self.window.get_or_init(|| window).record(ns),
            None => self.home.spill(ns, true),
        }
    }

    /// Gives the block back to its function when its thread exits.
    pub(crate) fn release(&'static self) {
        lock(&self.home.blocks).free.push(self);
    }

    /// Adds the block's histogram to `buckets`; returns its sum.
    fn read_histogram(&self, buckets: &mut Buckets) -> u64 {
        self.window.get().map_or(0, |w| w.read(buckets))
    }
}

/// Every block of a function, and those whose thread has exited.
pub(crate) struct Blocks {
    all: Vec<&'static Block>,
    free: Vec<&'static Block>,
}

/// What the blocks of one function share.
pub(crate) struct Shared {
    /// Calls made while their thread's thread-locals are being destroyed
    /// (from thread-local destructors at thread exit): atomic adds.
    counters: Counters,
    blocks: Mutex<Blocks>,
    /// Latencies no window holds: allocated at the first one the memory
    /// cap allows.
    spill: OnceLock<Box<Spill>>,
    /// The longest latency (exact).
    max_ns: AtomicU64,
    /// The summed latency of the values the memory cap left without a
    /// bucket and without a window to hold their sum.
    unbucketed_sum_ns: AtomicU64,
}

impl Shared {
    crate::sync::const_unless_loom! {
        /// No blocks, no counts.
        pub(crate) fn new() -> Shared {
            Shared {
                counters: Counters::new(),
                blocks: Mutex::new(Blocks {
                    all: Vec::new(),
                    free: Vec::new(),
                }),
                spill: OnceLock::new(),
                max_ns: AtomicU64::new(0),
                unbucketed_sum_ns: AtomicU64::new(0),
            }
        }
    }

    /// How many blocks the function holds.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn block_count(&self) -> usize {
        lock(&self.blocks).all.len()
    }

    /// A block for the calling thread: a free one, or a new one.
    #[cold]
    #[inline(never)]
    pub(crate) fn new_block(&'static self) -> &'static Block {
        let mut blocks = lock(&self.blocks);
        if let Some(block) = blocks.free.pop() {
            return block;
        }
        let block: &'static Block = Box::leak(Box::new(Block {
            counters: Counters::new(),
            window: OnceLock::new(),
            home: self,
        }));
        blocks.all.push(block);
        block
    }

    /// Counts a start without a block.
    #[cold]
    pub(crate) fn start(&self) {
        self.counters.add(Event::Call, SyncOrdering::Relaxed);
    }

    /// Counts an outcome without a block, with its latency when timed
    /// (`timed`: as [`Block::finish`]).
    #[cold]
    pub(crate) fn finish(&self, outcome: Outcome, elapsed_ns: Option<u64>, timed: bool) {
        match elapsed_ns {
            Some(ns) if outcome.returned() => {
                if !self.spill(ns, true) {
                    self.counters.add(Event::Unbucketed, SyncOrdering::Relaxed);
                }
                self.note_max(ns);
            }
            _ if timed && outcome.returned() => {
                self.counters.add(Event::Untimed, SyncOrdering::Relaxed);
            }
            _ => {}
        }
        self.counters.add(outcome.event(), SyncOrdering::Release);
    }

    /// Counts a step aside without a block.
    #[cold]
    pub(crate) fn overflow(&self) {
        self.counters.add(Event::Overflow, SyncOrdering::Relaxed);
    }

    /// Records a latency in the spill, and in its sum when `with_sum`;
    /// `false` (no bucket) past the memory cap.
    #[cold]
    #[inline(never)]
    fn spill(&self, ns: u64, with_sum: bool) -> bool {
        let bucketed = self.try_spill(ns, with_sum);
        if !bucketed && with_sum {
            self.unbucketed_sum_ns.fetch_add(ns, Ordering::Relaxed);
        }
        bucketed
    }

    fn try_spill(&self, ns: u64, with_sum: bool) -> bool {
        if self.spill.get().is_none() {
            let Some(fresh) = Spill::new() else {
                return false;
            };
            if self.spill.set(fresh).is_err() {
                // Another thread made the spill first.
                memory::release(Spill::BYTES);
            }
        }
        self.spill
            .get()
            .is_some_and(|spill| spill.record(ns, with_sum))
    }

    /// Raises the longest latency to `ns`.
    #[inline]
    fn note_max(&self, ns: u64) {
        if ns > self.max_ns.load(Ordering::Relaxed) {
            self.raise_max(ns);
        }
    }

    #[cold]
    #[inline(never)]
    fn raise_max(&self, ns: u64) {
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// The longest latency.
    pub(crate) fn max_ns(&self) -> u64 {
        self.max_ns.load(Ordering::Relaxed)
    }

    /// Forgets the longest latency (a reset).
    pub(crate) fn reset_max(&self) {
        self.max_ns.store(0, Ordering::Relaxed);
    }

    /// Reads every count, the histogram and its sum: every count but the
    /// starts first (acquire), then the histogram, then the starts, so a
    /// finished call the reader saw is among the starts it reads (see the
    /// module documentation of [`super`]). The block list stays locked
    /// meanwhile, so no block is added half-way through.
    pub(crate) fn read(&self, counts: &mut [u64; Event::COUNT], buckets: &mut Buckets) -> u64 {
        let blocks = lock(&self.blocks);
        self.counters.read_ends(counts);
        for block in &blocks.all {
            block.counters.read_ends(counts);
        }
        let mut sum_ns = self.unbucketed_sum_ns.load(Ordering::Relaxed);
        for block in &blocks.all {
            sum_ns = sum_ns.wrapping_add(block.read_histogram(buckets));
        }
        if let Some(spill) = self.spill.get() {
            sum_ns = sum_ns.wrapping_add(spill.read(buckets));
        }
        self.counters.read_starts(counts);
        for block in &blocks.all {
            block.counters.read_starts(counts);
        }
        sum_ns
    }
}
