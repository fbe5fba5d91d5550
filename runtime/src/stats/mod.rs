//! Exact, lock-free per-function statistics.
//!
//! # Design
//!
//! Each thread that calls a function counts into its own [`Block`] of that
//! function's counters (128 bytes, cache-line aligned, reached through the
//! function's thread-local, which the attribute declares). Only the owning
//! thread writes a block, so a count is a plain load and store: no atomic
//! read-modify-write, no lock, and no cache line shared between threads on
//! the hot path. A block is created (or taken from the site's free list) at a
//! thread's first call of the function, and given back with its counts when
//! the thread exits, so a site holds as many blocks as the most threads that
//! ever used it at once. Readers lock the site's list of blocks (writers never
//! take that lock) and sum the blocks. Calls made while the thread-local is
//! already destroyed (from other thread-local destructors at thread exit)
//! count in a shared set of counters with atomic adds, so none is lost.
//!
//! Only *events* are stored: a call's start (`calls`) and its one outcome
//! (`ok`, `errors`, `panics`, `cancelled`). `in_flight` is not a counter but
//! `calls - finished`, so `ok + errors + panics + cancelled + in_flight ==
//! calls` holds by construction. To keep `in_flight` from ever going negative,
//! a reader loads every outcome counter first (acquire) and the start counters
//! last: an outcome is stored (release) after its start was, on the same
//! thread or (for an async call resumed elsewhere) on one that the executor
//! synchronised with, so every finished call the reader saw is also among the
//! starts it reads afterwards.
//!
//! A call that returned with timing on is counted *only* in the latency
//! histogram (split by ok / error), never in a plain counter, so with timing
//! on `latency.count == ok + errors` exactly in every snapshot: both sides are
//! sums of the same cells.
//!
//! The histogram ([`histogram`]) is log-linear, with a relative error of at
//! most 3.2%. Timed calls already pay for two clock reads, so the histogram
//! takes atomic adds, spread over [`histogram::SHARDS`] shards; a shard's
//! cells (2 × 976 × 8 bytes, 15.6 KiB) are allocated at its first timed
//! call.
//!
//! Memory per site: the `static` itself (about 0.3 KiB), 128 bytes per
//! thread that used the function at the same time, and 15.6 KiB per
//! histogram shard in use (at most 8: 125 KiB). A function called from one
//! thread with timing on holds about 16 KiB.
//!
//! [`crate::Site::reset_stats`] does not zero cells under running writers: it stores
//! a baseline that later reads subtract, and it counts the calls in flight at
//! that moment as started after the reset, so the invariants survive it.

//!
//! # Files
//!
//! [`event`]: the events a call records and their counters; [`block`]:
//! per-thread blocks; [`histogram`]: latency buckets; [`site_stats`]: one
//! site's counters, read and reset; [`report`]: the public [`Stats`] and
//! [`Latency`]; [`timing`](mod@timing): the global timing switch. Nothing here knows
//! about sites: a block points at its [`SiteStats`].

pub(crate) mod block;
pub(crate) mod event;
pub(crate) mod histogram;
#[cfg(all(test, loom))]
mod loom;
mod report;
mod site_stats;
mod timing;

pub(crate) use block::Block;
pub(crate) use event::Event;
pub use report::{Latency, Stats};
pub(crate) use site_stats::{new_site_stats, SiteStats};
pub use timing::{set_timing, timing};
