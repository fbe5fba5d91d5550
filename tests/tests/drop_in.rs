#![allow(missing_docs, unreachable_pub)]
// The functions are written for the comparison, not as model code.
#![allow(
    clippy::needless_pass_by_value,
    clippy::unused_async,
    clippy::unnecessary_wraps,
    clippy::many_single_char_names,
    clippy::too_many_arguments,
    clippy::ptr_arg,
    clippy::unused_self,
    clippy::new_without_default
)]
//! `#[instrument_once]` as a drop-in for `#[tracing::instrument]`: the forms
//! tracing accepts, the field kinds it records, what the function does
//! (`#[track_caller]`, the order parameters are dropped in, `dead_code`), and
//! every call's outcome counted right, async and boxed futures included.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use instrument_once::instrument_once;
use instrument_once_tests::{record, site, yield_now};
use tracing::Level;

macro_rules! twins {
    (($($opts:tt)*) $($item:tt)*) => {
        #[allow(dead_code, clippy::unused_async)]
        pub mod t {
            #[allow(unused_imports)]
            use super::*;
            #[tracing::instrument($($opts)*)]
            $($item)*
        }
        #[allow(dead_code, clippy::unused_async)]
        pub mod o {
            #[allow(unused_imports)]
            use super::*;
            #[instrument_once::instrument_once($($opts)*)]
            $($item)*
        }
    };
}

macro_rules! same {
    ($($case:ident)::+ => $($call:tt)*) => {{
        let (rt, lt) = record(Level::TRACE, || $($case)::+::t::$($call)*);
        let (ro, lo) = record(Level::TRACE, || $($case)::+::o::$($call)*);
        assert_eq!(lo, lt, "recorded lines differ");
        assert_eq!(format!("{ro:?}"), format!("{rt:?}"), "results differ");
        lt
    }};
}

#[derive(Debug)]
pub struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}

// ------------------------------------------------------------ outcomes

#[instrument_once]
async fn async_fails(fail: bool) -> Result<u32, Oops> {
    if fail {
        Err(Oops)
    } else {
        Ok(1)
    }
}

#[instrument_once]
fn never_returns(countdown: u32) -> ! {
    assert!(countdown > 0, "done");
    never_returns(countdown - 1)
}

/// A function that never returns (`-> !`) is accepted (`tracing::instrument`
/// does not accept it), and its calls, all of which panic here, are counted
/// as panics.
#[test]
fn a_function_that_never_returns_counts_its_panics() {
    assert!(std::panic::catch_unwind(|| never_returns(2)).is_err());
    let s = site!(never_returns).stats();
    assert_eq!((s.calls, s.ok, s.panics, s.in_flight), (3, 0, 3, 0));
}

/// A return type a macro hands on as `$t:ty` arrives in an invisible group:
/// `!` is still seen as `!`.
macro_rules! never_via_macro {
    ($t:ty) => {
        #[instrument_once]
        fn never_via_macro(countdown: u32) -> $t {
            assert!(countdown > 0, "done");
            never_via_macro(countdown - 1)
        }
    };
}
never_via_macro!(!);

#[test]
fn a_never_type_from_a_macro_is_still_never() {
    assert!(std::panic::catch_unwind(|| never_via_macro(1)).is_err());
    let s = site!(never_via_macro).stats();
    assert_eq!((s.calls, s.ok, s.panics, s.in_flight), (2, 0, 2, 0));
}

#[instrument_once]
async fn async_never_returns(countdown: u32) -> ! {
    assert!(countdown > 0, "done");
    Box::pin(async_never_returns(countdown - 1)).await
}

/// An `async fn` that never returns is accepted too (its body's output type
/// is written as the runtime's alias of `!`), and its panics are counted.
#[test]
fn an_async_function_that_never_returns_counts_its_panics() {
    let polled = std::panic::catch_unwind(|| async_never_returns(2).now_or_never());
    assert!(polled.is_err());
    let s = site!(async_never_returns).stats();
    assert_eq!((s.calls, s.ok, s.panics, s.in_flight), (3, 0, 3, 0));
}

/// An `async fn` returning `Err` is counted as an error, as a sync one is.
#[test]
fn async_errors_are_counted() {
    let site = site!(async_fails);
    for fail in [true, false, true] {
        let _ = futures::executor::block_on(async_fails(fail));
    }
    let s = site.stats();
    assert_eq!((s.calls, s.ok, s.errors), (3, 1, 2), "{s:?}");
    assert_eq!(s.latency.count, 3);
}

mod boxed {
    use super::*;

    #[instrument_once(err)]
    pub fn alias(fail: bool) -> futures::future::BoxFuture<'static, Result<u32, Oops>> {
        Box::pin(async move {
            if fail {
                Err(Oops)
            } else {
                Ok(2)
            }
        })
    }

    #[instrument_once(err, ret)]
    pub fn spelled_out(fail: bool) -> Pin<Box<dyn Future<Output = Result<u32, Oops>> + Send>> {
        Box::pin(async move {
            if fail {
                Err(Oops)
            } else {
                Ok(3)
            }
        })
    }
}

/// A function returning a boxed future (the `async-trait` shape, or a
/// `BoxFuture` alias) emits `err` and counts the error of the future it
/// returns.
#[test]
fn boxed_futures_emit_err_and_count_errors() {
    for (name, run) in [
        (
            "alias",
            (|fail| futures::executor::block_on(boxed::alias(fail))) as fn(bool) -> _,
        ),
        ("spelled_out", |fail| {
            futures::executor::block_on(boxed::spelled_out(fail))
        }),
    ] {
        let (_, lines) = record(Level::TRACE, || run(true));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("level=ERROR") && l.contains("error:debug=oops")),
            "{name}: {lines:?}"
        );
        let _ = run(false);
        let site = instrument_once::registry()
            .get(&format!("{}::boxed::{name}", module_path!()))
            .unwrap();
        let s = site.stats();
        assert_eq!((s.calls, s.ok, s.errors), (2, 1, 1), "{name}: {s:?}");
    }
}

/// A panic while an async call builds its span (here, in a `fields`
/// expression) is counted as a panic, as in a sync call.
#[instrument_once(fields(boom = explode(x)))]
async fn panics_building_its_span(x: u32) -> u32 {
    x
}

fn explode(x: u32) -> u32 {
    assert!(x != 0, "planned panic in a field expression");
    x
}

#[test]
fn a_panic_building_an_async_span_is_a_panic() {
    let site = site!(panics_building_its_span);
    let result = record(Level::TRACE, || {
        std::panic::catch_unwind(|| futures::executor::block_on(panics_building_its_span(0)))
    })
    .0;
    assert!(result.is_err());
    let s = site.stats();
    assert_eq!(
        (s.calls, s.panics, s.cancelled, s.in_flight),
        (1, 1, 0, 0),
        "{s:?}"
    );
    // The call started on an empty chain, so its start entered the chain
    // for its first poll: the panic left it.
    assert!(instrument_once::current_chain().is_empty());
}

// ------------------------------------------------------------ forms

pub const SPAN_NAME: &str = "named_by_a_constant";
pub const TARGET: &str = "a_constant_target";
pub const FIELD: &str = "field_named_by_a_constant";

pub struct Names;
impl Names {
    pub const ASSOC: &'static str = "field_named_by_an_associated_constant";
}

mod empty_fields {
    twins! { (fields(user_id, request.kind, b = 1))
        pub fn f(x: u32) -> u32 {
            tracing::Span::current().record("user_id", 42_u64);
            tracing::Span::current().record("request.kind", "late");
            x
        }
    }
}

mod braced_fields {
    twins! { (fields({crate::FIELD} = 1, {"literal.name"} = %"shown", {crate::Names::ASSOC} = ?x))
        pub fn f(x: u32) -> u32 { x }
    }
}

mod constant_name_target {
    use crate::{SPAN_NAME, TARGET};
    twins! { (name = SPAN_NAME, target = TARGET)
        pub fn f(x: u32) -> u32 { x }
    }
}

mod positional_name {
    twins! { ("a positional name", level = "debug")
        pub fn f(x: u32) -> u32 { x }
    }
}

#[test]
fn forms_tracing_accepts_are_accepted_and_recorded_alike() {
    let lines = same!(empty_fields => f(1));
    assert!(
        lines.iter().any(|l| l == "record f user_id:u64=42"),
        "{lines:?}"
    );
    assert!(lines[0].contains("names=[\"x\", \"user_id\", \"request.kind\", \"b\"]"));
    let lines = same!(braced_fields => f(7));
    assert!(
        lines[0].contains("field_named_by_a_constant:i64=1"),
        "{lines:?}"
    );
    assert!(lines[0].contains("literal.name:debug=shown"), "{lines:?}");
    assert!(lines[0].contains("field_named_by_an_associated_constant:debug=7"));
    let lines = same!(constant_name_target => f(1));
    assert!(
        lines[0].starts_with("new named_by_a_constant target=a_constant_target"),
        "{lines:?}"
    );
    let lines = same!(positional_name => f(1));
    assert!(
        lines[0].starts_with("new a positional name") && lines[0].contains("level=DEBUG"),
        "{lines:?}"
    );
}

mod kinds {
    use std::num::{NonZeroI128, NonZeroU128, NonZeroU32, Wrapping};
    twins! { ()
        pub fn f(a: u128, b: i128, c: NonZeroU128, d: NonZeroI128, e: NonZeroU32, s: String, r: &String, w: Wrapping<u8>, u: usize) -> usize {
            let _ = (a, b, c, d, e, &s, r, w);
            u
        }
    }
}

/// Every type tracing records as a value is recorded as one, with the same
/// kind: `String` as a string, 128-bit integers as 128-bit integers...
#[test]
fn parameters_are_recorded_with_the_same_kinds() {
    use std::num::{NonZeroI128, NonZeroU128, NonZeroU32, Wrapping};
    let r = String::from("by ref");
    let lines = same!(kinds => f(
        u128::MAX,
        i128::MIN,
        NonZeroU128::new(5).unwrap(),
        NonZeroI128::new(-5).unwrap(),
        NonZeroU32::new(9).unwrap(),
        "Cool".into(),
        &r,
        Wrapping(3),
        4
    ));
    for kind in [
        "a:u128=",
        "b:i128=",
        "s:str=\"Cool\"",
        "r:str=\"by ref\"",
        "u:u64=4",
    ] {
        assert!(lines[0].contains(kind), "{kind}: {lines:?}");
    }
}

// ------------------------------------------------------------ what the function does

#[track_caller]
#[instrument_once]
fn where_was_i_called() -> &'static std::panic::Location<'static> {
    std::panic::Location::caller()
}

#[track_caller]
#[instrument_once(stats = false)]
fn where_was_i_called_returning_result() -> Result<u32, &'static std::panic::Location<'static>> {
    Err(std::panic::Location::caller())
}

#[track_caller]
#[instrument_once]
fn unwraps(x: Option<u32>) -> u32 {
    x.unwrap()
}

/// `#[track_caller]` still reports the caller: in `Location::caller()` and in
/// the location of a panic inside the function.
#[test]
fn track_caller_reports_the_caller() {
    let line = line!() + 1;
    let here = where_was_i_called();
    assert_eq!((here.file(), here.line()), (file!(), line));
    let line = line!() + 1;
    let here = where_was_i_called_returning_result().unwrap_err();
    assert_eq!((here.file(), here.line()), (file!(), line));
    let panic_line = Arc::new(Mutex::new(0));
    let seen = Arc::clone(&panic_line);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(l) = info.location() {
            *seen.lock().unwrap() = l.line();
        }
    }));
    let line = line!() + 1;
    let result = std::panic::catch_unwind(|| unwraps(None));
    std::panic::set_hook(previous);
    assert!(result.is_err());
    assert_eq!(*panic_line.lock().unwrap(), line);
    assert_eq!(site!(unwraps).stats().panics, 1);
}

/// Logs its name when dropped.
pub struct Noisy(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl std::fmt::Debug for Noisy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Drop for Noisy {
    fn drop(&mut self) {
        self.1.lock().unwrap().push(self.0);
    }
}

fn noisy(names: [&'static str; 3]) -> (Arc<Mutex<Vec<&'static str>>>, [Noisy; 3]) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let [a, b, c] = names;
    (
        Arc::clone(&log),
        [
            Noisy(a, Arc::clone(&log)),
            Noisy(b, Arc::clone(&log)),
            Noisy(c, log),
        ],
    )
}

// The same bodies, bare and instrumented: the body uses only the middle
// parameter, and drops a local of its own.
fn bare_plain(_first: Noisy, middle: Noisy, _last: Noisy) -> usize {
    let _local = Noisy("local", Arc::clone(&middle.1));
    middle.0.len()
}

#[instrument_once(skip_all)]
fn instrumented_plain(_first: Noisy, middle: Noisy, _last: Noisy) -> usize {
    let _local = Noisy("local", Arc::clone(&middle.1));
    middle.0.len()
}

fn bare_result(_first: Noisy, middle: Noisy, _last: Noisy) -> Result<usize, Oops> {
    let _local = Noisy("local", Arc::clone(&middle.1));
    Ok(middle.0.len())
}

#[instrument_once(skip_all)]
fn instrumented_result(_first: Noisy, middle: Noisy, _last: Noisy) -> Result<usize, Oops> {
    let _local = Noisy("local", Arc::clone(&middle.1));
    Ok(middle.0.len())
}

async fn bare_async(_first: Noisy, middle: Noisy, _last: Noisy) -> Result<usize, Oops> {
    let _local = Noisy("local", Arc::clone(&middle.1));
    Ok(middle.0.len())
}

#[instrument_once(skip_all)]
async fn instrumented_async(_first: Noisy, middle: Noisy, _last: Noisy) -> Result<usize, Oops> {
    let _local = Noisy("local", Arc::clone(&middle.1));
    Ok(middle.0.len())
}

// Every parameter recorded: the async body captures them rather than
// taking a tuple of them.
async fn bare_async_recorded(first: Noisy, middle: Noisy, last: Noisy) -> usize {
    let _local = Noisy("local", Arc::clone(&middle.1));
    instrument_once_tests::yield_now().await;
    middle.0.len() + first.0.len() + last.0.len()
}

#[instrument_once]
async fn instrumented_async_recorded(first: Noisy, middle: Noisy, last: Noisy) -> usize {
    let _local = Noisy("local", Arc::clone(&middle.1));
    instrument_once_tests::yield_now().await;
    middle.0.len() + first.0.len() + last.0.len()
}

/// Holds a value only to drop it.
pub struct Held(#[allow(dead_code)] Noisy);

impl Held {
    fn bare(self, _first: Noisy, middle: Noisy) -> Result<usize, Oops> {
        Ok(middle.0.len())
    }

    #[instrument_once(skip_all)]
    fn instrumented(self, _first: Noisy, middle: Noisy) -> Result<usize, Oops> {
        Ok(middle.0.len())
    }
}

// A body that can leave early (`?`) and whose value is needed runs in a
// closure: a `_` parameter and one named in `fields` are handed on too.
fn bare_early(first: Noisy, _: Noisy, last: Noisy) -> Result<usize, Oops> {
    let n = checked(first.0.len())?;
    Ok(n + last.0.len())
}

#[instrument_once(skip_all, fields(n = first.0.len()))]
fn instrumented_early(first: Noisy, _: Noisy, last: Noisy) -> Result<usize, Oops> {
    let n = checked(first.0.len())?;
    Ok(n + last.0.len())
}

async fn bare_async_wild(first: Noisy, _: Noisy, last: Noisy) -> Result<usize, Oops> {
    Ok(first.0.len() + last.0.len())
}

#[instrument_once(skip_all)]
async fn instrumented_async_wild(first: Noisy, _: Noisy, last: Noisy) -> Result<usize, Oops> {
    Ok(first.0.len() + last.0.len())
}

fn checked(n: usize) -> Result<usize, Oops> {
    if n == 0 {
        Err(Oops)
    } else {
        Ok(n)
    }
}

fn drop_order(call: impl FnOnce([Noisy; 3])) -> Vec<&'static str> {
    let (log, args) = noisy(["first", "middle", "last"]);
    call(args);
    let order = log.lock().unwrap().clone();
    order
}

/// Polls `fut` `polls` times (it must not complete), then drops it.
fn poll_then_drop<F: Future>(fut: F, polls: usize) {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    for _ in 0..polls {
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
}

/// An async call dropped before it completes (never polled, or pending at
/// an await inside its body) drops each parameter and local once, in the
/// same order as the function's future without the attribute: the
/// instrumented future drops its body in place, once.
#[test]
fn a_pending_async_call_dropped_drops_what_it_holds_once_in_order() {
    for polls in [0, 1] {
        let bare = drop_order(|[a, b, c]| poll_then_drop(bare_async_recorded(a, b, c), polls));
        let ours = drop_order(|[a, b, c]| {
            poll_then_drop(instrumented_async_recorded(a, b, c), polls);
        });
        assert_eq!(ours, bare, "after {polls} polls");
        let mut once = bare.clone();
        once.sort_unstable();
        once.dedup();
        assert_eq!(once.len(), bare.len(), "each dropped once: {bare:?}");
        assert_eq!(bare.len(), if polls == 0 { 3 } else { 4 }, "{bare:?}");
    }
}

/// Parameters, used or not, are dropped in the same order as without the
/// attribute, whichever way the body runs (inline, in a closure, async),
/// and a by-value `self` last.
#[test]
fn parameters_are_dropped_in_the_same_order() {
    let bare = drop_order(|[a, b, c]| {
        bare_plain(a, b, c);
    });
    assert_eq!(bare, ["local", "last", "middle", "first"]);
    assert_eq!(
        drop_order(|[a, b, c]| {
            instrumented_plain(a, b, c);
        }),
        bare
    );
    assert_eq!(
        drop_order(|[a, b, c]| {
            let _ = instrumented_result(a, b, c);
        }),
        drop_order(|[a, b, c]| {
            let _ = bare_result(a, b, c);
        })
    );
    assert_eq!(
        drop_order(|[a, b, c]| {
            let _ = futures::executor::block_on(instrumented_async(a, b, c));
        }),
        drop_order(|[a, b, c]| {
            let _ = futures::executor::block_on(bare_async(a, b, c));
        })
    );
    assert_eq!(
        drop_order(|[a, b, c]| {
            let _ = instrumented_early(a, b, c);
        }),
        drop_order(|[a, b, c]| {
            let _ = bare_early(a, b, c);
        })
    );
    assert_eq!(
        drop_order(|[a, b, c]| {
            let _ = futures::executor::block_on(instrumented_async_wild(a, b, c));
        }),
        drop_order(|[a, b, c]| {
            let _ = futures::executor::block_on(bare_async_wild(a, b, c));
        })
    );
    let bare = drop_order(|[a, b, c]| {
        let _ = futures::executor::block_on(bare_async_recorded(a, b, c));
    });
    assert_eq!(bare, ["local", "last", "middle", "first"]);
    assert_eq!(
        drop_order(|[a, b, c]| {
            let _ = futures::executor::block_on(instrumented_async_recorded(a, b, c));
        }),
        bare
    );
    let bare = drop_order(|[a, b, c]| {
        let _ = Held(a).bare(b, c);
    });
    assert_eq!(bare, ["last", "middle", "first"]);
    assert_eq!(
        drop_order(|[a, b, c]| {
            let _ = Held(a).instrumented(b, c);
        }),
        bare
    );
}

/// An early `return` or `?` from a body that runs inline is a return, not a
/// panic.
#[instrument_once]
fn leaves_early(x: Option<u32>) -> Option<u32> {
    let y = x?;
    if y == 0 {
        return Some(0);
    }
    Some(y + 1)
}

#[test]
fn early_returns_of_inline_bodies_are_returns() {
    assert_eq!(leaves_early(None), None);
    assert_eq!(leaves_early(Some(0)), Some(0));
    assert_eq!(leaves_early(Some(1)), Some(2));
    let s = site!(leaves_early).stats();
    assert_eq!(
        (s.calls, s.ok, s.panics, s.in_flight),
        (3, 3, 0, 0),
        "{s:?}"
    );
}

/// Dropping an unfinished instrumented future counts a cancellation.
#[instrument_once]
async fn waits(rx: futures::channel::oneshot::Receiver<()>) -> Result<(), Oops> {
    rx.await.map_err(|_| Oops)
}

#[test]
fn a_future_dropped_mid_poll_is_cancelled() {
    let site = site!(waits);
    let (_tx, rx) = futures::channel::oneshot::channel();
    let mut fut = Box::pin(waits(rx));
    assert!(fut.as_mut().now_or_never().is_none());
    drop(fut);
    let s = site.stats();
    assert_eq!((s.calls, s.cancelled, s.panics), (1, 1, 0), "{s:?}");
}

/// Panics when dropped.
pub struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("planned drop panic");
    }
}

/// Holds a [`Bomb`] across an await.
#[instrument_once]
async fn holds_a_bomb(rx: futures::channel::oneshot::Receiver<()>) {
    let _bomb = Bomb;
    let _ = rx.await;
}

/// A future dropped between polls whose body panics as it is dropped: the
/// panic reaches the dropper, and still the span closes (after the body was
/// dropped inside it) and the call is counted as cancelled, not left in
/// flight.
#[test]
fn a_body_that_panics_while_dropped_still_closes_its_span_and_counts() {
    let (_tx, rx) = futures::channel::oneshot::channel();
    let ((), log) = record(Level::TRACE, || {
        drop_pending_expecting_a_panic(holds_a_bomb(rx));
    });
    let tail: Vec<&str> = log.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "enter holds_a_bomb",
            "exit holds_a_bomb",
            "close holds_a_bomb"
        ],
        "{log:#?}"
    );
    assert_cancelled_once(site!(holds_a_bomb));
}

/// Polls `fut` once (it must be pending), then drops it, and checks that
/// the drop panics and the panic reaches the dropper.
fn drop_pending_expecting_a_panic(fut: impl Future) {
    let mut fut = Box::pin(fut);
    assert!(fut.as_mut().now_or_never().is_none());
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(fut)));
    assert!(dropped.is_err(), "the drop's panic reaches the dropper");
}

/// One call of `site`, counted as cancelled: not a panic, not in flight.
fn assert_cancelled_once(site: &instrument_once::Site) {
    let s = site.stats();
    assert_eq!(
        (s.calls, s.cancelled, s.panics, s.in_flight),
        (1, 1, 0, 0),
        "{}: {s:?}",
        site.name()
    );
}

/// A layer that panics as the span of [`closes_panicking`] closes.
struct PanicsOnClose;

impl<S> tracing_subscriber::Layer<S> for PanicsOnClose
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if ctx
            .span(&id)
            .is_some_and(|s| s.name() == "closes_panicking")
        {
            panic!("planned close panic");
        }
    }
}

#[instrument_once]
async fn closes_panicking(rx: futures::channel::oneshot::Receiver<()>) {
    let _ = rx.await;
}

/// A subscriber that panics as a cancelled call's span closes: the panic
/// reaches the dropper, and the cancellation is still counted.
#[test]
fn a_subscriber_that_panics_closing_the_span_still_has_the_call_counted() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let (_tx, rx) = futures::channel::oneshot::channel();
    let subscriber = tracing_subscriber::registry().with(PanicsOnClose);
    tracing::subscriber::with_default(subscriber, || {
        drop_pending_expecting_a_panic(closes_panicking(rx));
    });
    assert_cancelled_once(site!(closes_panicking));
}

/// A layer that panics as the span of [`holds_an_arc`] is entered, once
/// armed (on this thread).
struct PanicsOnEnter;

std::thread_local! {
    static ENTER_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl<S> tracing_subscriber::Layer<S> for PanicsOnEnter
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if ENTER_PANICS.with(std::cell::Cell::get)
            && ctx.span(id).is_some_and(|s| s.name() == "holds_an_arc")
        {
            panic!("planned enter panic");
        }
    }
}

#[instrument_once(skip_all)]
async fn holds_an_arc(held: Arc<()>, rx: futures::channel::oneshot::Receiver<()>) {
    let _ = rx.await;
    drop(held);
}

/// A subscriber that panics as a cancelled call's span is entered for the
/// body's drop: the panic reaches the dropper, the body is still dropped
/// (what it held is released), and the call is counted as cancelled.
#[test]
fn a_subscriber_that_panics_entering_the_span_at_the_drop_still_has_the_body_dropped() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let held = Arc::new(());
    let (_tx, rx) = futures::channel::oneshot::channel();
    let subscriber = tracing_subscriber::registry().with(PanicsOnEnter);
    tracing::subscriber::with_default(subscriber, || {
        let mut fut = Box::pin(holds_an_arc(Arc::clone(&held), rx));
        assert!(fut.as_mut().now_or_never().is_none());
        ENTER_PANICS.with(|p| p.set(true));
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(fut)));
        ENTER_PANICS.with(|p| p.set(false));
        assert!(
            dropped.is_err(),
            "the subscriber's panic reaches the dropper"
        );
    });
    assert_eq!(Arc::strong_count(&held), 1, "the body was dropped");
    assert_cancelled_once(site!(holds_an_arc));
}

/// Its span's field awaits: the call's preamble itself can be pending.
#[instrument_once(fields(waited = { yield_now().await; 1u32 }))]
async fn field_awaits(x: u32) -> u32 {
    x
}

/// Its span's field awaits inside a macro call, which the attribute cannot
/// see into.
#[instrument_once(fields(waited = format!("{:?}", yield_now().await)))]
async fn field_awaits_in_a_macro(x: u32) -> u32 {
    x
}

/// A call dropped while its span's field awaits is cancelled, not a panic
/// (an `.await` hidden in a macro call too); one that goes on completes as
/// usual.
#[test]
fn a_call_dropped_while_a_field_awaits_is_cancelled() {
    let ((), log) = record(Level::TRACE, || {
        let mut fut = Box::pin(field_awaits(1));
        assert!(fut.as_mut().now_or_never().is_none());
        drop(fut);
        assert_eq!(futures::executor::block_on(field_awaits(2)), 2);
        let mut fut = Box::pin(field_awaits_in_a_macro(1));
        assert!(fut.as_mut().now_or_never().is_none());
        drop(fut);
        assert_eq!(futures::executor::block_on(field_awaits_in_a_macro(2)), 2);
    });
    for site in [site!(field_awaits), site!(field_awaits_in_a_macro)] {
        let s = site.stats();
        assert_eq!(
            (s.calls, s.ok, s.cancelled, s.panics, s.in_flight),
            (2, 1, 1, 0, 0),
            "{}: {s:?} {log:#?}",
            site.name()
        );
    }
    assert!(instrument_once::current_chain().is_empty());
}

fn parse_field(s: &str) -> Result<u32, Oops> {
    s.parse().map_err(|_| Oops)
}

/// A field that returns early with `?`: the body never runs.
#[instrument_once(fields(v = parse_field(s)?))]
async fn field_returns_early(s: &str) -> Result<u32, Oops> {
    Ok(s.len().try_into().unwrap_or(0))
}

/// The same, sync.
#[instrument_once(fields(v = parse_field(s)?))]
fn field_returns_early_sync(s: &str) -> Result<u32, Oops> {
    Ok(s.len().try_into().unwrap_or(0))
}

/// A call that returns early from its span's field is counted as the sync
/// twin counts it (a return: the value is never seen), not as a
/// cancellation or a panic, and is not left in flight.
#[test]
fn an_early_return_from_a_field_counts_as_in_a_sync_call() {
    let ((), _log) = record(Level::TRACE, || {
        assert!(futures::executor::block_on(field_returns_early("x")).is_err());
        assert!(field_returns_early_sync("x").is_err());
        assert_eq!(
            futures::executor::block_on(field_returns_early("7")).ok(),
            Some(1)
        );
    });
    let a = site!(field_returns_early).stats();
    let s = site!(field_returns_early_sync).stats();
    // Timed as returns: `latency.count == ok + errors`.
    assert_eq!(
        (a.calls, a.ok, a.errors, a.panics, a.cancelled, a.in_flight),
        (2, 2, 0, 0, 0, 0),
        "{a:?}"
    );
    assert_eq!(a.latency.count, 2, "{a:?}");
    assert_eq!(
        (s.calls, s.ok, s.errors, s.panics, s.cancelled, s.in_flight),
        (1, 1, 0, 0, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.latency.count, 1, "{s:?}");
    // The early return left the chain the start entered.
    assert!(instrument_once::current_chain().is_empty());
}

// ------------------------------------------------------------ impl Trait inside a Result

#[instrument_once]
fn evens(fail: bool) -> Result<impl Iterator<Item = u8>, Oops> {
    if fail {
        return Err(Oops);
    }
    Ok((0..10u8).filter(|x| x % 2 == 0))
}

#[instrument_once]
async fn evens_later(fail: bool) -> Result<impl Iterator<Item = u8>, Oops> {
    if fail {
        Err(Oops)
    } else {
        Ok((0..10u8).filter(|x| x % 2 == 0))
    }
}

/// The `Result` around an `impl Trait` is seen: its errors are counted.
#[test]
fn errors_around_impl_trait_are_counted() {
    for fail in [true, false, true] {
        let _ = evens(fail).map(Iterator::count);
        let _ = futures::executor::block_on(evens_later(fail)).map(Iterator::count);
    }
    for site in [site!(evens), site!(evens_later)] {
        let s = site.stats();
        assert_eq!(
            (s.calls, s.ok, s.errors),
            (3, 1, 2),
            "{}: {s:?}",
            site.name()
        );
    }
}

// ------------------------------------------------------------ #[track_caller], more forms

#[derive(Debug)]
pub struct Built(&'static std::panic::Location<'static>);

impl Built {
    /// A constructor: a return type the attribute cannot prove is no
    /// `Result`, and a body without an early exit, so it runs inline.
    #[track_caller]
    #[instrument_once]
    pub fn new() -> Self {
        Built(std::panic::Location::caller())
    }
}

/// The boxed-future shape keeps `#[track_caller]` for its synchronous part.
#[track_caller]
#[instrument_once(err)]
pub fn spawn_located() -> Pin<Box<dyn Future<Output = Result<u32, Oops>> + Send>> {
    let at = std::panic::Location::caller().line();
    Box::pin(async move { Ok(at) })
}

#[test]
fn track_caller_works_where_the_body_runs_inline() {
    let line = line!() + 1;
    let built = Built::new();
    assert_eq!(built.0.line(), line);
    let line = line!() + 1;
    let at = futures::executor::block_on(spawn_located()).unwrap();
    assert_eq!(at, line);
}

// ------------------------------------------------------------ async-trait, impl-level attribute outside

#[async_trait::async_trait]
pub trait Fetch {
    async fn fetch(&self, x: u32) -> u32;
}

#[derive(Debug)]
pub struct Fetcher;

/// Our impl-level attribute expands before `async-trait`, which renames the
/// `self` token: the field is still named `self`.
#[instrument_once]
#[async_trait::async_trait]
impl Fetch for Fetcher {
    async fn fetch(&self, x: u32) -> u32 {
        x
    }
}

#[test]
fn self_keeps_its_field_name_under_async_trait() {
    let (_, lines) = record(Level::TRACE, || {
        futures::executor::block_on(Fetcher.fetch(3))
    });
    assert!(
        lines[0].contains("self:debug=Fetcher") && lines[0].contains("names=[\"self\", \"x\"]"),
        "{lines:?}"
    );
}
