//! Depth guards: bounded recursion through instrumented code, readable
//! errors, balance after every way out of a call. Every test takes the
//! global lock: one of them lowers the process-wide depth ceiling.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use instrument_once::{current_chain, instrument_once, DepthExceeded, Site};
use instrument_once_tests::{global_lock, record, site, yield_now};

fn depth_of(site: &Site) -> usize {
    current_chain()
        .iter()
        .filter(|s| std::ptr::eq(**s, site))
        .count()
}

// ---------------------------------------------------------------- the incident

#[derive(Debug)]
enum HandlerError {
    TooDeep(DepthExceeded),
}

impl From<DepthExceeded> for HandlerError {
    fn from(e: DepthExceeded) -> Self {
        HandlerError::TooDeep(e)
    }
}

type Handler = fn(&Dispatch, u32) -> Result<u32, HandlerError>;

/// A dispatch table of handlers, like a driver's hook registry.
#[derive(Debug)]
struct Dispatch {
    handlers: HashMap<&'static str, Handler>,
}

impl Dispatch {
    fn call(&self, name: &str, n: u32) -> Result<u32, HandlerError> {
        (self.handlers[name])(self, n)
    }
}

/// The bug: a handler that looks up "the current handler" in the table,
/// which is itself, and calls it. Guarded: ends in `Err`.
#[instrument_once(max_depth = 64, on_overflow = "error")]
fn on_query_guarded(d: &Dispatch, n: u32) -> Result<u32, HandlerError> {
    d.call("query", n + 1)
}

/// The line of `on_query_panicking`'s name: where its overflow panic is
/// located.
const PANICKING_LINE: u32 = line!() + 3;

/// The same bug, guarded with the default overflow: a panic.
#[instrument_once(max_depth = 64)]
fn on_query_panicking(d: &Dispatch, n: u32) -> Result<u32, HandlerError> {
    d.call("query", n + 1)
}

/// The same bug, instrumented without a limit: nothing stops it.
#[instrument_once]
fn on_query_unbounded(d: &Dispatch, n: u32) -> Result<u32, HandlerError> {
    let r = d.call("query", n + 1);
    std::hint::black_box(&r);
    r
}

fn table(h: Handler) -> Dispatch {
    Dispatch {
        handlers: HashMap::from([("query", h)]),
    }
}

#[test]
fn self_calling_handler_ends_in_a_clear_err_not_a_stack_overflow() {
    let _g = global_lock();
    let d = table(on_query_guarded);
    let Err(HandlerError::TooDeep(e)) = d.call("query", 0) else {
        panic!("expected the depth error")
    };
    assert_eq!(e.limit(), 64);
    assert!(e.function().ends_with("::on_query_guarded"));
    assert_eq!(e.chain().len(), 64);
    let msg = e.to_string();
    assert!(
        msg.contains("max_depth = 64") && msg.contains("on_query_guarded (x64)"),
        "{msg}"
    );
    let s = site!(on_query_guarded).stats();
    assert_eq!(
        (s.calls, s.errors, s.depth_overflows, s.deepest, s.in_flight),
        (64, 64, 1, 64, 0),
        "{s:?}"
    );
    assert!(current_chain().is_empty());
}

#[test]
fn self_calling_handler_panics_with_the_chain_by_default() {
    let _g = global_lock();
    let d = table(on_query_panicking);
    let location = std::sync::Arc::new(std::sync::Mutex::new(None));
    let previous = std::panic::take_hook();
    {
        let location = std::sync::Arc::clone(&location);
        std::panic::set_hook(Box::new(move |info| {
            *location.lock().unwrap() = info.location().map(|l| (l.file().to_owned(), l.line()));
        }));
    }
    let payload = catch_unwind(AssertUnwindSafe(|| d.call("query", 0))).expect_err("must panic");
    std::panic::set_hook(previous);
    // Located at the function, not inside this crate's runtime.
    assert_eq!(
        location.lock().unwrap().clone(),
        Some((file!().to_owned(), PANICKING_LINE))
    );
    let msg = payload
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        msg.contains("on_query_panicking` exceeded max_depth = 64"),
        "{msg}"
    );
    assert!(msg.ends_with("on_query_panicking (overflow)"), "{msg}");
    let s = site!(on_query_panicking).stats();
    assert_eq!((s.calls, s.panics, s.in_flight), (64, 64, 0), "{s:?}");
    assert!(current_chain().is_empty(), "every guard unwound");
}

/// Run by `unbounded_recursion_would_have_aborted` in a child process.
#[test]
#[ignore = "run in a child process: it overflows its stack on purpose"]
fn child_unbounded_recursion() {
    if std::env::var_os("INSTRUMENT_ONCE_TEST_CHILD").is_none() {
        return;
    }
    let t = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| table(on_query_unbounded).call("query", 0).is_ok())
        .unwrap();
    let _ = t.join();
}

#[test]
fn unbounded_recursion_would_have_aborted() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_unbounded_recursion",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("INSTRUMENT_ONCE_TEST_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the unguarded variant must crash");
    assert!(stderr.contains("has overflowed its stack"), "{stderr}");
}

// ---------------------------------------------------------------- messages

#[instrument_once(max_depth = 20)]
fn ping(n: u32) -> u32 {
    pong(n + 1)
}

#[instrument_once]
fn pong(n: u32) -> u32 {
    ping(n + 1)
}

#[test]
fn long_chains_are_elided_in_the_middle() {
    let _g = global_lock();
    let payload = catch_unwind(|| ping(0)).expect_err("must panic");
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(msg.contains("calls elided"), "{msg}");
    assert_eq!(
        msg.matches("::ping").count(),
        8 + 1 + 1,
        "8 at each end shown, plus the name and the overflow: {msg}"
    );
    assert!(current_chain().is_empty());
}

// ---------------------------------------------------------------- outermost

#[instrument_once(recursion = "outermost")]
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[test]
fn outermost_counts_and_spans_only_the_outermost_call() {
    let _g = global_lock();
    let (v, lines) = record(tracing::Level::TRACE, || fib(10));
    assert_eq!(v, 55);
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("new fib")).count(),
        1,
        "{lines:?}"
    );
    let s = site!(fib).stats();
    assert_eq!((s.calls, s.ok), (1, 1));
    assert_eq!(s.deepest, 1, "inner calls are bookkeeping only");
}

// ---------------------------------------------------------------- the ceiling

#[instrument_once]
fn deep(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        deep(n - 1) + 1
    }
}

/// Runs `f` outside any request, or inside one: a thread's chain also holds
/// the request it runs, and every depth rule must read the same either way.
fn maybe_in_request<R>(inside: bool, f: impl FnOnce() -> R) -> R {
    if inside {
        instrument_once::request::scope("depth-tests", f)
    } else {
        f()
    }
}

#[test]
fn past_the_per_thread_ceiling_instrumentation_steps_aside() {
    let _g = global_lock();
    // Above and below the 16 outermost frames a chain keeps apart; the
    // lower ceilings are set while this thread's chain exists. At 1 only
    // the outermost call (pushed on the empty chain) is instrumented; 0 is
    // treated as 1.
    for (ceiling, instrumented, inside) in [
        (20u32, 20u32, false),
        (10, 10, false),
        (1, 1, false),
        (0, 1, false),
        (20, 20, true),
        (1, 1, true),
    ] {
        site!(deep).reset_stats();
        instrument_once::set_max_total_depth(ceiling);
        let (v, lines) = record(tracing::Level::TRACE, || {
            maybe_in_request(inside, || deep(29))
        });
        instrument_once::set_max_total_depth(instrument_once::DEFAULT_MAX_TOTAL_DEPTH);
        assert_eq!(v, 29, "behaviour unchanged");
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("new deep")).count(),
            instrumented as usize
        );
        let s = site!(deep).stats();
        let n = u64::from(instrumented);
        assert_eq!(
            (s.calls, s.ok, s.depth_overflows, s.in_flight),
            (n, n, 30 - n, 0),
            "{s:?}"
        );
    }
}

// ---------------------------------------------------------------- threads

#[instrument_once]
fn descend(n: u32, expected_depth: usize) -> usize {
    let here = depth_of(site!(descend));
    assert_eq!(here, expected_depth, "depth leaked between threads");
    if n == 0 {
        here
    } else {
        descend(n - 1, expected_depth + 1).max(here)
    }
}

#[test]
fn eight_threads_recursing_concurrently_keep_their_own_depth() {
    let _g = global_lock();
    let depths: Vec<u32> = (0..8).map(|i| 5 + (i * 37 + 11) % 90).collect();
    instrument_once_tests::together(depths.len(), |t| {
        let n = depths[t];
        for _ in 0..20 {
            assert_eq!(descend(n, 1), n as usize + 1);
        }
    });
    let deepest = depths.iter().max().unwrap() + 1;
    assert_eq!(site!(descend).stats().deepest, deepest);
}

// ---------------------------------------------------------------- balance

#[instrument_once]
fn fails_at(n: u32, at: u32) -> Result<u32, String> {
    if n == at {
        return Err(format!("failed at {n}"));
    }
    let inner = fails_at(n + 1, at)?;
    Ok(inner + 1)
}

#[instrument_once]
fn panics_at(n: u32, at: u32) -> u32 {
    assert!(n != at, "planned panic at {n}");
    panics_at(n + 1, at) + 1
}

#[test]
fn guards_balance_after_question_mark_and_panics() {
    let _g = global_lock();
    assert!(fails_at(0, 10).is_err());
    assert!(current_chain().is_empty());
    assert!(catch_unwind(|| panics_at(0, 10)).is_err());
    assert!(current_chain().is_empty());
    let s = site!(panics_at).stats();
    assert_eq!((s.calls, s.panics, s.in_flight), (11, 11, 0));
    let s = site!(fails_at).stats();
    assert_eq!((s.calls, s.errors, s.in_flight), (11, 11, 0));
}

// ---------------------------------------------------------------- async

#[instrument_once(max_depth = 8, on_overflow = "error")]
fn nest_async(
    n: u32,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, DepthExceeded>> + Send>> {
    Box::pin(async move {
        if n == 0 {
            Ok(0)
        } else {
            Ok(nest_async(n - 1).await? + 1)
        }
    })
}

#[instrument_once]
async fn probe_depth(tag: u32, levels: u32, yields: u32) -> Vec<usize> {
    let mut seen = vec![depth_of(site!(probe_depth))];
    if levels > 0 {
        seen.extend(Box::pin(probe_depth(tag, levels - 1, yields)).await);
    } else {
        for _ in 0..yields {
            yield_now().await;
            seen.push(depth_of(site!(probe_depth)));
        }
    }
    seen
}

#[test]
fn async_depth_counts_nested_polls_and_overflows_clearly() {
    let _g = global_lock();
    assert_eq!(futures::executor::block_on(nest_async(7)).unwrap(), 7);
    let e = futures::executor::block_on(nest_async(30)).unwrap_err();
    assert_eq!(e.limit(), 8);
    assert!(current_chain().is_empty());
    let s = site!(nest_async).stats();
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.deepest, 8);
}

#[test]
fn interleaved_tasks_on_one_thread_never_see_each_other() {
    use futures::task::LocalSpawnExt;
    let _g = global_lock();
    let mut pool = futures::executor::LocalPool::new();
    let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    for (tag, levels) in [(1, 3), (2, 5)] {
        let results = std::rc::Rc::clone(&results);
        pool.spawner()
            .spawn_local(async move {
                let seen = probe_depth(tag, levels, 4).await;
                results.borrow_mut().push((levels, seen));
            })
            .unwrap();
    }
    pool.run();
    for (levels, seen) in results.borrow().iter() {
        let top = *levels as usize + 1;
        let expected: Vec<usize> = (1..=top).chain(std::iter::repeat_n(top, 4)).collect();
        assert_eq!(seen, &expected, "task with {levels} levels");
    }
}

#[test]
fn a_task_moved_between_threads_keeps_its_depth_and_dropping_it_balances() {
    use futures::FutureExt;
    let _g = global_lock();
    let mut fut = Box::pin(probe_depth(9, 2, 2));
    assert!(fut.as_mut().now_or_never().is_none());
    assert!(
        current_chain().is_empty(),
        "nothing is left on this thread between polls"
    );
    let handle = std::thread::spawn(move || {
        let seen = futures::executor::block_on(fut);
        (seen, current_chain().len())
    });
    let (seen, left) = handle.join().unwrap();
    assert_eq!(seen, vec![1, 2, 3, 3, 3]);
    assert_eq!(left, 0);
    // Dropped in the middle of a chain of nested instrumented futures.
    let mut fut = Box::pin(probe_depth(10, 3, 5));
    assert!(fut.as_mut().now_or_never().is_none());
    let before = site!(probe_depth).stats();
    drop(fut);
    let after = site!(probe_depth).stats();
    assert_eq!(
        after.cancelled - before.cancelled,
        4,
        "four nested calls cancelled"
    );
    assert!(current_chain().is_empty());
}

// ---------------------------------------------------------------- thread exit

#[instrument_once]
fn from_destructor() -> u32 {
    7
}

struct CallsOnDrop;

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        assert_eq!(from_destructor(), 7);
    }
}

thread_local! {
    static ON_EXIT: CallsOnDrop = const { CallsOnDrop };
}

#[test]
fn calling_from_a_thread_local_destructor_does_not_panic() {
    let _g = global_lock();
    std::thread::spawn(|| {
        ON_EXIT.with(|_| ());
        from_destructor();
    })
    .join()
    .expect("thread exit must not panic");
    assert_eq!(site!(from_destructor).stats().calls, 2);
}

// ---------------------------------------------------------------- deep chains

#[instrument_once(max_depth = 300)]
fn very_deep(n: u32) -> usize {
    if n == 0 {
        current_chain().len()
    } else {
        very_deep(n - 1)
    }
}

#[test]
fn a_very_deep_chain_keeps_its_ends_and_counts_the_middle() {
    let _g = global_lock();
    for inside in [false, true] {
        let kept = maybe_in_request(inside, || very_deep(299));
        assert_eq!(kept, 144, "16 outermost + 128 innermost are kept");
        let payload = catch_unwind(|| maybe_in_request(inside, || very_deep(400)))
            .expect_err("301st call overflows");
        let msg = payload.downcast_ref::<String>().unwrap();
        assert!(msg.contains("chain of 300 instrumented calls"), "{msg}");
        assert!(
            msg.contains("very_deep (x16) -> ... (156 calls not recorded) -> "),
            "{msg}"
        );
        assert!(msg.contains("very_deep (x128) -> "), "{msg}");
        assert!(current_chain().is_empty());
    }
}

#[instrument_once]
fn opens_a_request() -> [usize; 3] {
    let before = current_chain().len();
    let inside = instrument_once::request::scope("opened-inside-a-call", || {
        deep(3);
        current_chain().len()
    });
    // After the scope: back to the chain and to no request.
    deep(2);
    [before, inside, current_chain().len()]
}

#[test]
fn a_request_opened_inside_a_call_leaves_the_chain_as_it_found_it() {
    let _g = global_lock();
    assert_eq!(opens_a_request(), [1, 1, 1]);
    assert!(current_chain().is_empty());
    assert_eq!(deep(5), 5, "outside again: the chain works as before");
    assert!(current_chain().is_empty());
    let row = instrument_once::request::report()
        .get("opened-inside-a-call", &format!("{}::deep", module_path!()))
        .map(|row| (row.requests, row.calls));
    assert_eq!(row, Some((1, 4)), "deep(3) is 4 calls; deep(2) came after");
}
