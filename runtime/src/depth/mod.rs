//! Depth guards: each thread's chain of active instrumented calls, and each
//! function's depth on it.
//!
//! # Design
//!
//! Every instrumented function has its own thread-local state (a [`Local`])
//! holding the function's depth on this thread's chain and, attached at the
//! thread's first call of the function, this thread's [`Chain`] and this
//! thread's block of the function's counters. In an optimised build (and for
//! every async function) the attribute declares it as a thread-local next to
//! the function's site, so the access compiles to a direct thread-local load
//! in the function's own crate: "how deep is this function here" is one
//! thread-local read. A sync function in a build with debug assertions finds
//! it in a per-thread table by the site's registry index instead (see
//! `local.rs`): a dev build then compiles no thread-local per function.
//!
//! A [`Chain`] is the thread's total number of active instrumented calls and
//! their sites, outermost first, in fixed capacity: the [`HEAD`](chain::HEAD) outermost
//! calls exactly, and a ring of the [`TAIL`](chain::TAIL) innermost ones (each frame is the
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
//! inside the outer one's poll. A call's start (where its span's
//! expressions run) comes before its first poll, in the same poll of the
//! function's future. On an empty chain the start enters the chain for
//! that poll, so the span's expressions run on it, as a sync call's do;
//! on a chain that holds calls, or where the span's expressions may await
//! (the task may move to another thread there), they run before the call
//! enters it. A poll of a call that is not on the chain (its function was
//! switched off at its start) does not enter it.
//!
//! Past the per-thread ceiling ([`set_max_total_depth`]) instrumentation
//! steps aside; the chain's memory is fixed, so instrumentation can never be
//! what exhausts memory. A chain deeper than `HEAD + TAIL` calls keeps its
//! outermost and innermost calls and counts the ones in between.

//!
//! # Files
//!
//! [`ceiling`]: the per-thread ceiling; [`chain`]: a thread's chain of
//! active calls; [`local`]: a function's thread-local, attaching the
//! thread's chain and counter block. The error of a call past `max_depth`,
//! which names the chain's functions, is one layer up
//! (`crate::overflow`): this module knows sites only by their index.

mod ceiling;
mod chain;
mod local;

pub use ceiling::ENV_MAX_TOTAL_DEPTH;
pub use ceiling::{max_total_depth, set_max_total_depth, DEFAULT_MAX_TOTAL_DEPTH};
pub(crate) use chain::{recorded_chain, Chain};
pub use local::Local;
pub(crate) use local::{held_chain, this_chain, Attached, LocalAt};
