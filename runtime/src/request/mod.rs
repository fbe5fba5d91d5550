//! Per-request call profile: which instrumented functions one request (an
//! HTTP request, a job, a message) called, how often, and how often with a
//! key it had already been called with in the same request.
//!
//! Per-function totals cannot show "the same user was looked up 14 times in
//! one request": 14 calls look like 14 requests. Here every counted call
//! made inside a request is tallied to that request, and the report has one
//! row per (request, function):
//!
//! ```
//! use instrument_once::{instrument_once, request};
//!
//! #[instrument_once(repeats_by(user_id))]
//! fn user_by_id(user_id: &str) -> usize {
//!     user_id.len()
//! }
//!
//! #[instrument_once(request)]
//! fn dashboard() -> usize {
//!     (0..14).map(|_| user_by_id("auth0|42")).sum()
//! }
//!
//! # fn main() {
//! dashboard();
//! let report = request::report();
//! let dashboard = concat!(module_path!(), "::dashboard");
//! let lookups = report.get(dashboard, concat!(module_path!(), "::user_by_id")).unwrap();
//! assert_eq!((lookups.requests, lookups.calls, lookups.repeats), (1, 14, 13));
//! println!("{report}");
//! # }
//! ```
//!
//! # Requests
//!
//! * `#[instrument_once(request)]`: each call of the function is one
//!   request, named after its qualified name.
//! * [`scope`](fn@scope) runs a closure as one request, [`scope_async`] a future (the
//!   request follows the future across polls and threads).
//! * A scope opened inside a request is part of it. A task spawned from
//!   inside a request is not, unless wrapped in a scope of its own; neither
//!   are calls on other threads the request starts.
//! * Request names are `&'static str`: they come from the code, not from
//!   data, so a request path with ids in it cannot create a series per id.
//!   (Name the route, not the URL.)
//!
//! # Repeats
//!
//! `#[instrument_once(repeats_by(arg, ..))]` names the arguments (any
//! `Hash` type) that make a call a repeat: a call whose arguments equal an
//! earlier call's in the same request. Keys are compared by a 64-bit hash.
//! When a request ends with one key of a function repeated at least
//! [`repeat_warning`] times (default 3: four calls with one key), a
//! `tracing` WARN event (target `instrument_once::request`) names the
//! request, the function, that count, all its repeats and the time they
//! took; at most once per (request, function) per minute (a pair past the
//! cap on pairs warns too, at most once a minute for all of them).
//!
//! # Cost and bounds
//!
//! A call outside any request pays a compare with memory and a branch.
//! Inside one, a call is tallied in the request's table (no lock, no
//! allocation), and a `repeats_by` key is hashed and looked up there.
//! Ending a request takes one lock and one map update per function it
//! called. Tallies are reused: nothing is allocated per request once warm.
//!
//! One request tallies up to 64 distinct functions and remembers up to 192
//! distinct keys; the report keeps up to [`max_pairs`] (request, function)
//! pairs (default [`DEFAULT_MAX_PAIRS`]). What falls past any of these is
//! counted ([`Report::unslotted_calls`], [`Report::unkeyed_calls`],
//! [`Report::refused_calls`]) and shown by the report and by
//! [`crate::diagnose()`].
//!
//! Only counted calls are tallied: functions with `stats = false`, and
//! calls while a function is switched off, are not.

mod book;
mod report;
mod scope;

use std::future::Future;

pub use book::{
    max_pairs, repeat_warning, set_max_pairs, set_repeat_warning, DEFAULT_MAX_PAIRS,
    DEFAULT_REPEAT_WARNING,
};
pub use report::{report, Report, RequestRow, RequestStats};
pub use scope::Scoped;

pub(crate) use scope::Open;

/// Runs `f` as one request named `name` (or as part of the request this
/// thread already runs).
///
/// ```
/// #[instrument_once::instrument_once]
/// fn load(id: u32) -> u32 { id }
///
/// # fn main() {
/// let total = instrument_once::request::scope("GET /items", || load(1) + load(2));
/// assert_eq!(total, 3);
/// let report = instrument_once::request::report();
/// let s = report.get("GET /items", concat!(module_path!(), "::load")).unwrap();
/// assert_eq!((s.requests, s.calls), (1, 2));
/// # }
/// ```
pub fn scope<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    let _open = Open::sync(name);
    f()
}

/// Runs `future` as one request named `name`: every poll, on whatever
/// thread, runs inside it; it ends when the future completes or is
/// dropped. Polled inside another request, it is part of that one.
///
/// ```
/// #[instrument_once::instrument_once]
/// async fn fetch(id: u32) -> u32 { id }
///
/// # fn main() {
/// let n = futures::executor::block_on(instrument_once::request::scope_async(
///     "GET /async",
///     async { fetch(1).await + fetch(2).await },
/// ));
/// assert_eq!(n, 3);
/// let report = instrument_once::request::report();
/// assert_eq!(report.get("GET /async", concat!(module_path!(), "::fetch")).unwrap().calls, 2);
/// # }
/// ```
pub fn scope_async<F: Future>(name: &'static str, future: F) -> Scoped<F> {
    Scoped::new(name, future)
}

/// Forgets every request's figures (for tests and benchmarks; requests
/// running now still end into the fresh report).
///
/// ```
/// instrument_once::request::reset();
/// assert!(instrument_once::request::report().rows().is_empty());
/// ```
pub fn reset() {
    book::reset();
}
