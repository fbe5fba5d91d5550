//! Per-thread counter blocks: each thread counts a site's calls in a block
//! only it writes.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::event::{new_counters, Counters, Event};
use super::histogram::SHARDS;
use super::SiteStats;
use crate::sync::{lock, Ordering as SyncOrdering};

/// One thread's counters for one site.
///
/// A block belongs to one thread at a time: the function's thread-local on
/// that thread points at it, and only that thread writes it. When the
/// thread exits, the block goes to the site's free list *with its counts*,
/// and the next thread that calls the site takes it over and keeps adding:
/// nothing is folded or moved, so no reader can see a count twice or lose
/// it, and the number of blocks of a site is the largest number of threads
/// that used it at once.
#[repr(align(128))]
pub(crate) struct Block {
    pub(super) counters: Counters,
    stats: &'static SiteStats,
    /// The latency histogram shard this block records into.
    shard: usize,
}

/// Spreads blocks over the histogram shards.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

impl Block {
    /// A new block of `stats` (its first shard chosen round-robin).
    pub(super) fn new(stats: &'static SiteStats) -> Block {
        Block {
            counters: new_counters(),
            stats,
            shard: NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS,
        }
    }

    /// Counts a start.
    #[inline]
    pub(crate) fn start(&self) {
        self.counters.bump(Event::Call, SyncOrdering::Relaxed);
    }

    /// Counts an untimed outcome.
    #[inline]
    pub(crate) fn finish(&self, outcome: Event) {
        self.counters.bump(outcome, SyncOrdering::Release);
    }

    /// Counts a step aside (`max_depth` or the per-thread ceiling).
    #[inline]
    pub(crate) fn overflow(&self) {
        self.counters.bump(Event::Overflow, SyncOrdering::Relaxed);
    }

    /// Records a timed return: the histogram is its only count.
    #[inline(never)]
    pub(crate) fn finish_timed(&self, outcome: Event, ns: u64) {
        self.stats.record_timed(self.shard, outcome, ns);
    }

    /// Gives the block back to its site when its thread exits.
    pub(crate) fn release(&'static self) {
        lock(&self.stats.blocks).free.push(self);
    }
}

/// Every block of a site, and those whose thread has exited.
pub(crate) struct Blocks {
    pub(super) all: Vec<&'static Block>,
    pub(super) free: Vec<&'static Block>,
}
