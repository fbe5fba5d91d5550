//! Idempotent function instrumentation: a function is wrapped once, never
//! twice, and a wrapper never calls itself.
//!
//! ```
//! use instrument_once::instrument_once;
//!
//! #[instrument_once(level = "debug", err)]
//! fn load(id: u64) -> Result<u64, String> {
//!     if id == 0 { Err("no row 0".into()) } else { Ok(id * 10) }
//! }
//!
//! # fn main() {
//! let _ = load(1);
//! let _ = load(0);
//! let site = instrument_once::registry().get(concat!(module_path!(), "::load")).unwrap();
//! let stats = site.stats();
//! assert_eq!((stats.calls, stats.ok, stats.errors), (2, 1, 1));
//! # }
//! ```
//!
//! # Why
//!
//! Instrumentation is code that wraps other code. When two layers both wrap
//! the same function the result ranges from doubled spans to a wrapper that
//! calls itself until the stack runs out; when switches are ignored nobody
//! can turn it off; when nobody can ask "is this function instrumented, and
//! where do its spans go?", missing traces take days to explain. This crate
//! makes each of those impossible or loud:
//!
//! * [`macro@instrument_once`] wraps a function in a `tracing` span with the
//!   options and the recorded fields of `tracing::instrument`, and refuses at
//!   compile time to wrap a function twice (two of our attributes, or ours
//!   with `tracing::instrument` in either order).
//! * Every annotated function owns a `static` [`Site`]; the [`registry()`]
//!   lists all of them, called or not, with exact [`Stats`].
//! * Depth guards (`max_depth`, [`set_max_total_depth`]) turn runaway
//!   recursion into a clear panic or `Err` ([`DepthExceeded`]) instead of a
//!   stack-overflow abort.
//! * Switches ([`control`], [`Site::set_enabled`]) are honoured from the next
//!   call on, in every thread; [`diagnose()`] says per function why its spans
//!   are or are not recorded.
//! * [`hook::HookSlot`] wraps function values (hooks, handlers) at run time,
//!   at most once per key, answering "already wrapped?" from its own records.
//!
//! # Cost
//!
//! After its first call on a thread, an instrumented call takes no lock,
//! allocates nothing, hashes nothing and makes no atomic read-modify-write.
//! Everything is compiled inline into the function, with its options as
//! constants. One relaxed load of the site's `ctl` word decides the common
//! cases: a switched-off function, or one with `stats = false`, goes no
//! further. Otherwise one access to the function's own thread-local gives its
//! depth, this thread's chain of active calls and this thread's block of the
//! function's counters; the call bumps the depth, pushes itself on the chain
//! and counts itself with a plain load and store (only its thread writes that
//! block), and the exit puts the depth and the chain back and counts the
//! outcome. With timing on, two reads of the CPU's time-stamp counter
//! (through `quanta`) measure the call. `benches/BENCHMARKS.md` in the
//! repository has the measured figures against `tracing::instrument` and
//! other peers.
//!
//! # Registration
//!
//! With the default `static-registry` feature each site is also listed in a
//! link-time slice (the `linkme` crate), so [`Registry::sites`] lists
//! functions before their first call on Linux, macOS, Windows and the other
//! platforms `linkme` supports. The generated code contains no `unsafe`: a
//! crate with `#![forbid(unsafe_code)]` uses the attribute as is. On a
//! platform without link-time slices, turn the feature off
//! (`default-features = false`): sites are then listed from their first call.
#![doc(html_root_url = "https://docs.rs/instrument-once/0.1.0")]
#![deny(unsafe_code)]

// The modules in layers, bottom to top: each one uses only modules of the
// layers below it (`tests/tests/layers.rs` checks it).
//
// 1. leaves: the primitives, the clock, counters and histogram, hook slots,
//    table formatting
mod clock;
pub mod hook;
mod stats;
mod sync;
mod table;
// 2. the site: metadata, the state word, its stats
mod site;
// 3. per-thread state: depth and the chain of active calls
mod depth;
// 4. directives: parsing and matching
mod directives;
// 5. the registry: the list of sites, registration, directives in force
mod registry;
// 6. what users call: switches, the overflow error, request profiles,
//    diagnosis, exports
pub mod control;
mod diagnose;
mod export;
pub mod http;
mod overflow;
pub mod request;
// 7. what generated code calls: the call engine and its facade
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod call;

pub use depth::{max_total_depth, set_max_total_depth, DEFAULT_MAX_TOTAL_DEPTH};
pub use diagnose::{diagnose, Diagnosis, DisabledBy, Report, Verdict};
pub use export::{
    set_classic_bounds, set_classic_bounds_for, ClassicBounds, ExponentialBucket,
    ExponentialHistogram, InvalidBounds, LatencyBucket, SiteSnapshot, Snapshot,
};
pub use overflow::{current_chain, DepthExceeded};
pub use registry::{registry, LookupError, Registry};
pub use site::Site;
pub use stats::{
    histogram_memory, set_histogram_memory_cap, set_timing, timing, HistogramMemory, Latency,
    Stats, DEFAULT_HISTOGRAM_MEMORY,
};

/// Wrap a function (or every method of an impl block) in a `tracing` span,
/// once, and register it.
///
/// See the crate's README for the full option reference. The options of
/// `tracing::instrument` keep their meaning and record the same fields:
/// `name`, `target`, `level`, `parent`, `follows_from`, `skip(..)`,
/// `skip_all`, `fields(..)`, `err`, `err(Debug|Display)`, `ret`,
/// `ret(Debug|Display)`. Options of this crate: `crate = path`,
/// `max_depth = N`, `on_overflow = "panic" | "error"`,
/// `recursion = "nest" | "outermost"`, `timing = false`, `stats = false`,
/// `request` (each call is a request, see [`request`]) and
/// `repeats_by(args..)` (calls with equal values of these arguments in one
/// request are repeats).
///
/// ```
/// use instrument_once::instrument_once;
///
/// #[derive(Debug)]
/// struct Repo;
///
/// #[instrument_once]
/// impl Repo {
///     fn get(&self, id: u32) -> u32 { id }
///     #[instrument_once(level = "trace", skip(id))]
///     fn hot(&self, id: u32) -> u32 { id + 1 }
/// }
///
/// # fn main() {
/// assert_eq!(Repo.hot(Repo.get(1)), 2);
/// let reg = instrument_once::registry();
/// assert_eq!(reg.get(concat!(module_path!(), "::Repo::hot")).unwrap().stats().calls, 1);
/// # }
/// ```
pub use instrument_once_macros::instrument_once;

/// An instrumented function's [`Site`], by a path the compiler checks:
/// `site!(crate::handlers::get_user)` (or from `self::` or `super::`;
/// `Type::method` for a method). A path that names no item is a compile
/// error, not a run-time `None`, and the crate's name is not written
/// anywhere. It returns what [`Registry::lookup`] returns for the
/// function's qualified name: `Err` when the function is not instrumented,
/// or another function has the same qualified name.
///
/// Write the path where the function is defined: the qualified name is read
/// from it, so a path through a `use` or a re-export compiles but finds
/// nothing (an `Err`). For a method, the type's path is checked and the
/// method's name is looked up (an `Err` lists the closest names); a method
/// instrumented by its own attribute is registered without its type's name
/// and is found when no other method of that name in the module is
/// instrumented (put the attribute on the impl block to be exact). The
/// runtime must be reachable as `instrument_once` (the attribute's `crate =`
/// option has no counterpart here). Without the default `static-registry`
/// feature a function is listed from its first call, so before it `site!`
/// returns `Err`.
///
/// ```
/// mod handlers {
///     #[instrument_once::instrument_once]
///     pub fn get_user(id: u32) -> u32 { id }
///
///     #[derive(Debug)]
///     pub struct Repo;
///     #[instrument_once::instrument_once]
///     impl Repo {
///         pub fn load(&self) -> u8 { 1 }
///     }
/// }
///
/// # fn main() {
/// handlers::get_user(7);
/// handlers::Repo.load();
/// let site = instrument_once::site!(crate::handlers::get_user).unwrap();
/// assert_eq!(site.stats().calls, 1);
/// let load = instrument_once::site!(self::handlers::Repo::load).unwrap();
/// assert_eq!(load.name(), "load");
/// # }
/// ```
///
/// A path that names nothing does not compile:
///
/// ```compile_fail
/// # mod handlers { #[instrument_once::instrument_once] pub fn get_user() {} }
/// # fn main() {
/// let site = instrument_once::site!(crate::handlers::get_usr);
/// # }
/// ```
pub use instrument_once_macros::site;
