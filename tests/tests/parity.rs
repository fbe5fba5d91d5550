#![allow(missing_docs, unreachable_pub)]
// The twin functions are written for the comparison, not as model code.
#![allow(
    clippy::ignored_unit_patterns,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::needless_pass_by_value
)]
//! Side by side: for the same options, `#[instrument_once]` records exactly
//! what `#[tracing::instrument]` records: span name, target, level, parent,
//! fields, follows-from, events of `err`/`ret`, and the enter/exit/close
//! sequence (sync and async).

use instrument_once_tests::record;
use tracing::Level;

/// Defines the same items twice: in `t` under `#[tracing::instrument(..)]`,
/// in `o` under `#[instrument_once(..)]`.
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

/// Runs the `t` and `o` versions of a call under the same subscriber and
/// asserts that the two logs are identical and non-empty.
macro_rules! same {
    ($max:expr, $($case:ident)::+ => $($call:tt)*) => {{
        let (rt, lt) = record($max, || $($case)::+::t::$($call)*);
        let (ro, lo) = record($max, || $($case)::+::o::$($call)*);
        assert_eq!(lo, lt, "recorded lines differ");
        assert_eq!(format!("{ro:?}"), format!("{rt:?}"), "results differ");
        lt
    }};
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: u32,
    pub name: String,
}

#[derive(Debug)]
pub struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops, displayed")
    }
}

mod defaults {
    use crate::User;
    twins! { ()
        pub fn load(id: u64, name: &str, owned: String, user: &User, flag: bool, ratio: f64, list: Vec<u8>) -> u64 {
            tracing::info!(inner = 1, "inside");
            id + name.len() as u64 + owned.len() as u64 + u64::from(user.id) + u64::from(flag) + ratio as u64 + list.len() as u64
        }
    }
}

#[test]
fn default_span_records_every_parameter_like_tracing() {
    let user = User {
        id: 7,
        name: "ann".into(),
    };
    let lines =
        same!(Level::TRACE, defaults => load(1, "ab", "xyz".into(), &user, true, 2.5, vec![1, 2]));
    assert!(lines[0].starts_with("new load target="), "{lines:?}");
    assert!(lines[0].contains("id:u64=1 name:str=\"ab\""), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("in=load") && l.contains("inside")),
        "{lines:?}"
    );
}

mod destructured {
    twins! { ()
        pub fn split((a, b): (u32, &str), [x, y]: [u8; 2], crate::User { id, name }: crate::User) -> String {
            format!("{a}{b}{x}{y}{id}{name}")
        }
    }
}

#[test]
fn destructured_parameters_are_recorded_like_tracing() {
    let user = User {
        id: 3,
        name: "bo".into(),
    };
    let lines = same!(Level::TRACE, destructured => split((1, "q"), [4, 5], user.clone()));
    assert!(
        lines[0].contains("a:debug=1") && lines[0].contains("id:debug=3"),
        "{lines:?}"
    );
}

mod named {
    twins! { (name = "custom.name", target = "my_target", level = "debug")
        pub fn f(x: u8) -> u8 { x }
    }
}

#[test]
fn name_target_level() {
    let lines = same!(Level::TRACE, named => f(1));
    assert!(
        lines[0].starts_with("new custom.name target=my_target level=DEBUG"),
        "{lines:?}"
    );
    // Filtered out by the level: neither records anything.
    let lines = same!(Level::INFO, named => f(1));
    assert!(lines.is_empty(), "{lines:?}");
}

mod level_forms {
    pub mod int {
        twins! { (level = 2) pub fn f() {} }
    }
    pub mod path {
        twins! { (level = tracing::Level::WARN) pub fn f() {} }
    }
    pub mod upper {
        twins! { (level = "ERROR") pub fn f() {} }
    }
}

#[test]
fn every_level_form() {
    for lines in [
        same!(Level::TRACE, level_forms::int => f()),
        same!(Level::TRACE, level_forms::path => f()),
        same!(Level::TRACE, level_forms::upper => f()),
    ] {
        assert_eq!(lines.len(), 4, "{lines:?}");
    }
}

mod parents {
    twins! { (parent = None) pub fn root() {} }
}
mod explicit_parent {
    twins! { (parent = parent_span) pub fn child(parent_span: &tracing::Span) { let _ = parent_span; } }
}
mod follows {
    twins! { (follows_from = causes.clone()) pub fn f(causes: Vec<Option<tracing::Id>>) { let _ = causes; } }
}

#[test]
fn parent_none_is_a_root_span() {
    let lines = same!(Level::TRACE, parents => root());
    assert!(lines[0].contains("parent=root"), "{lines:?}");
    let nested = |root: fn()| {
        let outer = tracing::info_span!("outer");
        let _g = outer.enter();
        root();
    };
    let (_, lt) = record(Level::TRACE, || nested(parents::t::root));
    let (_, lo) = record(Level::TRACE, || nested(parents::o::root));
    assert_eq!(lo, lt);
    assert!(
        lt.iter()
            .any(|l| l.starts_with("new root") && l.contains("parent=root")),
        "{lt:?}"
    );
}

#[test]
fn explicit_parent_and_follows_from() {
    let with_parent = |f: fn(&tracing::Span)| {
        let p = tracing::info_span!("the_parent");
        f(&p);
    };
    let (_, lt) = record(Level::TRACE, || with_parent(explicit_parent::t::child));
    let (_, lo) = record(Level::TRACE, || with_parent(explicit_parent::o::child));
    assert_eq!(lo, lt);
    assert!(
        lt.iter().any(|l| l.contains("parent=explicit:the_parent")),
        "{lt:?}"
    );

    let with_causes = |f: fn(Vec<Option<tracing::Id>>)| {
        let a = tracing::info_span!("cause_a");
        f(vec![a.id()]);
    };
    let (_, lt) = record(Level::TRACE, || with_causes(follows::t::f));
    let (_, lo) = record(Level::TRACE, || with_causes(follows::o::f));
    assert_eq!(lo, lt);
    assert!(lt.iter().any(|l| l == "follows f -> cause_a"), "{lt:?}");
}

mod skips {
    pub mod some {
        twins! { (skip(secret, user)) pub fn f(id: u32, secret: &str, user: &crate::User) -> u32 { let _ = (secret, user); id } }
    }
    pub mod all {
        twins! { (skip_all) pub fn f(id: u32, secret: &str) -> u32 { let _ = secret; id } }
    }
}

#[test]
fn skip_and_skip_all() {
    let user = User {
        id: 1,
        name: "x".into(),
    };
    let lines = same!(Level::TRACE, skips::some => f(5, "pw", &user));
    assert!(
        lines[0].contains("id:u64=5") && !lines[0].contains("secret"),
        "{lines:?}"
    );
    let lines = same!(Level::TRACE, skips::all => f(5, "pw"));
    assert!(!lines[0].contains("id:u64=5"), "{lines:?}");
}

mod custom_fields {
    twins! { (fields(user.id = user.id, user.name = %user.name, kind = ?"debug", id = 99_u32, %shown, later = tracing::field::Empty))
        pub fn f(user: &crate::User, id: u32, shown: &str) -> u32 {
            tracing::Span::current().record("later", 5);
            id + user.id + shown.len() as u32
        }
    }
}

#[test]
fn custom_fields_override_parameters_of_the_same_name() {
    let user = User {
        id: 2,
        name: "zed".into(),
    };
    let lines = same!(Level::TRACE, custom_fields => f(&user, 1, "s"));
    assert!(
        lines[0].contains("user.id:u64=2") && lines[0].contains(" id:u64=99"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "record f later:i64=5"),
        "{lines:?}"
    );
}

mod errs {
    use crate::Oops;
    pub mod plain {
        twins! { (err) pub fn f(fail: bool) -> Result<u8, crate::Oops> { if fail { Err(crate::Oops) } else { Ok(1) } } }
    }
    pub mod debug {
        twins! { (err(Debug)) pub fn f(fail: bool) -> Result<u8, crate::Oops> { if fail { Err(crate::Oops) } else { Ok(1) } } }
    }
    pub mod display_level {
        twins! { (err(Display, level = "warn")) pub fn f(fail: bool) -> Result<u8, crate::Oops> { if fail { Err(crate::Oops) } else { Ok(1) } } }
    }
    pub mod io_alias {
        twins! { (err) pub fn f(fail: bool) -> std::io::Result<u8> { if fail { Err(std::io::Error::other("disk")) } else { Ok(1) } } }
    }
    pub mod question {
        twins! { (err, ret) pub fn f(s: &str) -> Result<u32, std::num::ParseIntError> { let n: u32 = s.parse()?; if n > 10 { return Ok(10); } Ok(n) } }
    }
    #[allow(unused)]
    fn _use(_: Oops) {}
}

#[test]
fn err_in_every_form() {
    for fail in [false, true] {
        let lines = same!(Level::TRACE, errs::plain => f(fail));
        assert_eq!(
            lines
                .iter()
                .any(|l| l.contains("error:debug=oops, displayed")),
            fail,
            "{lines:?}"
        );
        let lines = same!(Level::TRACE, errs::debug => f(fail));
        assert_eq!(
            lines.iter().any(|l| l.contains("error:debug=Oops")),
            fail,
            "{lines:?}"
        );
        let lines = same!(Level::TRACE, errs::display_level => f(fail));
        assert_eq!(
            lines.iter().any(|l| l.contains("level=WARN")),
            fail,
            "{lines:?}"
        );
        same!(Level::TRACE, errs::io_alias => f(fail));
    }
    for input in ["3", "30", "x"] {
        same!(Level::TRACE, errs::question => f(input));
    }
}

mod rets {
    pub mod plain {
        twins! { (ret) pub fn f(x: u8) -> Vec<u8> { vec![x; 2] } }
    }
    pub mod display {
        twins! { (ret(Display, level = "debug")) pub fn f(x: u8) -> String { format!("<{x}>") } }
    }
    pub mod unit {
        twins! { (ret) pub fn f() {} }
    }
}

#[test]
fn ret_in_every_form() {
    let lines = same!(Level::TRACE, rets::plain => f(3));
    assert!(
        lines.iter().any(|l| l.contains("return:debug=[3, 3]")),
        "{lines:?}"
    );
    let lines = same!(Level::TRACE, rets::display => f(3));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("return:debug=<3>") && l.contains("level=DEBUG")),
        "{lines:?}"
    );
    same!(Level::TRACE, rets::unit => f());
}

#[derive(Debug)]
pub struct Repo {
    pub n: u32,
}

mod methods {

    pub mod by_ref {
        twins! { () pub fn get(repo: &crate::Repo, k: u32) -> u32 { repo.n + k } }
    }
}

mod receivers {
    #[derive(Debug)]
    pub struct T(pub u32);
    #[derive(Debug)]
    pub struct O(pub u32);
    impl T {
        #[tracing::instrument]
        pub fn by_ref(&self, k: u32) -> u32 {
            self.0 + k
        }
        #[tracing::instrument(skip(self))]
        pub fn by_mut(&mut self) -> u32 {
            self.0 += 1;
            self.0
        }
        #[tracing::instrument]
        pub fn boxed(self: Box<Self>) -> u32 {
            self.0
        }
    }
    impl O {
        #[instrument_once::instrument_once]
        pub fn by_ref(&self, k: u32) -> u32 {
            self.0 + k
        }
        #[instrument_once::instrument_once(skip(self))]
        pub fn by_mut(&mut self) -> u32 {
            self.0 += 1;
            self.0
        }
        #[instrument_once::instrument_once]
        pub fn boxed(self: Box<Self>) -> u32 {
            self.0
        }
    }
}

#[test]
fn methods_record_self_like_tracing() {
    let same_modulo_type = |a: Vec<String>, b: Vec<String>| {
        let b: Vec<String> = b
            .into_iter()
            .map(|l| l.replace("self:debug=O(", "self:debug=T("))
            .collect();
        assert_eq!(b, a);
    };
    let (_, lt) = record(Level::TRACE, || receivers::T(1).by_ref(2));
    let (_, lo) = record(Level::TRACE, || receivers::O(1).by_ref(2));
    same_modulo_type(lt, lo);
    let (_, lt) = record(Level::TRACE, || receivers::T(1).by_mut());
    let (_, lo) = record(Level::TRACE, || receivers::O(1).by_mut());
    same_modulo_type(lt, lo);
    let (_, lt) = record(Level::TRACE, || Box::new(receivers::T(4)).boxed());
    let (_, lo) = record(Level::TRACE, || Box::new(receivers::O(4)).boxed());
    same_modulo_type(lt, lo);
    let repo = Repo { n: 1 };
    same!(Level::TRACE, methods::by_ref => get(&repo, 2));
}

/// Polls a future to completion on this thread.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

mod asyncs {
    pub mod plain {
        twins! { () pub async fn f(x: u32) -> u32 { instrument_once_tests::yield_now().await; tracing::info!("between"); instrument_once_tests::yield_now().await; x + 1 } }
    }
    pub mod err_ret {
        twins! { (err, ret, level = "debug") pub async fn f(x: u32) -> Result<u32, crate::Oops> { instrument_once_tests::yield_now().await; if x == 0 { Err(crate::Oops) } else { Ok(x) } } }
    }
    pub mod drops_loudly {
        twins! { () pub async fn f(x: u32) -> u32 { let _guard = crate::LogsOnDrop; instrument_once_tests::yield_now().await; x } }
    }
    pub mod drop_panics {
        twins! { () pub async fn f(x: u32) -> u32 { let _guard = crate::PanicsOnDrop; instrument_once_tests::yield_now().await; x } }
    }
    pub mod recursive {
        twins! { () pub fn f(n: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> { Box::pin(async move { if n == 0 { instrument_once_tests::yield_now().await; 0 } else { f(n - 1).await + 1 } }) } }
    }
}

#[test]
fn async_spans_enter_on_every_poll_like_instrument() {
    let lines = same!(Level::TRACE, asyncs::plain => f(1).pipe(block_on));
    let enters = lines.iter().filter(|l| *l == "enter f").count();
    assert!(enters >= 3, "one enter per poll: {lines:?}");
    for x in [0, 1] {
        same!(Level::TRACE, asyncs::err_ret => f(x).pipe(block_on));
    }
    let lines = same!(Level::TRACE, asyncs::recursive => f(3).pipe(block_on));
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("new f")).count(),
        4,
        "{lines:?}"
    );
}

#[test]
fn dropped_future_closes_its_span_like_instrument() {
    let poll_once = |fut: std::pin::Pin<Box<dyn std::future::Future<Output = u32>>>| {
        let mut fut = fut;
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        drop(fut);
    };
    let (_, lt) = record(Level::TRACE, || poll_once(Box::pin(asyncs::plain::t::f(1))));
    let (_, lo) = record(Level::TRACE, || poll_once(Box::pin(asyncs::plain::o::f(1))));
    assert_eq!(lo, lt);
    assert!(lt.iter().any(|l| l == "close f"), "{lt:?}");
}

/// Emits an event when dropped: inside the span if the body is dropped
/// inside it.
pub struct LogsOnDrop;

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        tracing::info!("body dropped");
    }
}

/// Panics when dropped.
pub struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a body's local panics in its drop");
    }
}

/// Polls once (`Pending`), then drops the future; whether the drop panicked.
fn poll_once_then_drop(fut: std::pin::Pin<Box<dyn std::future::Future<Output = u32>>>) -> bool {
    let mut fut = fut;
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(fut))).is_err()
}

/// An unfinished future's body is dropped inside its span (its locals'
/// drops are in the span), then the span closes, as with `instrument`; and
/// when a local's drop panics, the span is still exited and closed.
#[test]
fn dropped_future_drops_its_body_inside_its_span_even_when_the_drop_panics() {
    let lines = same!(Level::TRACE, asyncs::drops_loudly => f(1).pipe(|f| poll_once_then_drop(Box::pin(f))));
    let dropped = lines
        .iter()
        .position(|l| l.contains("body dropped"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        lines[dropped].contains("in=f"),
        "inside the span: {lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("close f"),
        "{lines:?}"
    );

    let (panicked_t, lt) = record(Level::TRACE, || {
        poll_once_then_drop(Box::pin(asyncs::drop_panics::t::f(1)))
    });
    let (panicked_o, lo) = record(Level::TRACE, || {
        poll_once_then_drop(Box::pin(asyncs::drop_panics::o::f(1)))
    });
    assert!(panicked_t && panicked_o);
    assert_eq!(lo, lt);
    assert_eq!(lo.last().map(String::as_str), Some("close f"), "{lo:?}");
    assert_eq!(
        lo.iter().filter(|l| *l == "enter f").count(),
        lo.iter().filter(|l| *l == "exit f").count(),
        "{lo:?}"
    );
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}
