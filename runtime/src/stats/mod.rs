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
//! A call that returned with timing on is counted in the latency histogram
//! *and* as `ok` / `errors`; one of a function with timing that returned
//! untimed (the global switch was off) also bumps `untimed`. So
//! `latency.count == ok + errors - untimed`: both sides are sums of
//! counters of the same blocks, read in one pass. A function without timing
//! bumps no `untimed` (one counter fewer a call): its options say that none
//! of its returns was timed, and its `latency.count` is 0. The bucket of a
//! timed return is stored before its outcome (release), so every return a
//! reader counts has its bucket in the histogram it reads afterwards.
//!
//! The histogram ([`histogram`]) is base-2 exponential at scale 3, the
//! scheme of OpenTelemetry's exponential histograms and Prometheus's native
//! histograms (a percentile within 4.43% of the true value). Each thread
//! that times a function records into its own window of 128 buckets (16
//! powers of two around its first value, under 560 bytes, plain stores
//! like the counters); values outside it go to the function's shared spill
//! pages (atomic adds, a page per power of two that ever saw a value). All
//! histogram memory is charged to a process-wide cap ([`memory`]): past it
//! a timed call is counted as `unbucketed` instead of being dropped.
//!
//! Memory per function: the `static` itself (about 0.3 KiB), and per thread
//! that called it 128 bytes of counters plus, with timing on, one window:
//! under 1 KiB per function per thread.
//!
//! [`crate::Site::reset_stats`] does not zero cells under running writers: it stores
//! a baseline that later reads subtract, and it counts the calls in flight at
//! that moment as started after the reset, so the invariants survive it.
//!
//! # Files
//!
//! [`event`]: the events a call records and their counters; [`block`]:
//! per-thread blocks and what a function's blocks share; [`histogram`]:
//! latency buckets; [`memory`]: the cap on histogram memory; [`site_stats`]: one
//! site's counters, read and reset; [`report`]: the public [`Stats`] and
//! [`Latency`]; [`timing`](mod@timing): the global timing switch. Nothing here knows
//! about sites: a block points at what its function's blocks share.

pub(crate) mod block;
pub(crate) mod event;
pub(crate) mod histogram;
#[cfg(all(test, loom))]
mod loom;
pub(crate) mod memory;
mod report;
mod site_stats;
pub(crate) mod tally;
mod timing;

pub(crate) use block::Block;
pub(crate) use event::{Event, Outcome};
pub use memory::{
    histogram_memory, set_histogram_memory_cap, HistogramMemory, DEFAULT_HISTOGRAM_MEMORY,
    ENV_HISTOGRAM_MEMORY,
};
pub use report::{Latency, Stats};
pub(crate) use site_stats::SiteStats;
pub(crate) use tally::Tally;
pub use timing::{set_timing, timing};
