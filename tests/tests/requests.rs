//! The per-request call profile: attribution, nesting, repeats, exactness
//! under concurrency, async requests that move between threads, the caps,
//! the warning and the exports. Every test takes its turn (`TURN`): the
//! cap test refuses new (request, function) pairs for a moment, and every
//! other test makes new pairs, which would then be refused. Every test uses
//! request names of its own.
#![allow(missing_docs)]

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use instrument_once::{instrument_once, request};

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

fn qualified(name: &str) -> String {
    format!("{}::{name}", module_path!())
}

#[instrument_once(repeats_by(user_id))]
fn user_by_id(user_id: &str) -> usize {
    user_id.len()
}

#[instrument_once]
fn render(n: usize) -> usize {
    n + 1
}

/// The incident: a dashboard handler looking the same user up 14 times.
#[instrument_once(request)]
fn dashboard(user: &str) -> usize {
    let mut total = 0;
    for _ in 0..14 {
        total += user_by_id(user);
    }
    render(total)
}

#[test]
fn a_request_fn_tallies_its_calls_and_repeats() {
    let _turn = turn();
    dashboard("auth0|1");
    dashboard("auth0|2");
    let report = request::report();
    let name = qualified("dashboard");
    let lookups = report.get(&name, &qualified("user_by_id")).unwrap();
    assert_eq!(lookups.requests, 2);
    assert_eq!(lookups.calls, 28);
    assert_eq!(lookups.max_calls, 14);
    assert_eq!(lookups.repeats, 26);
    assert_eq!(lookups.max_repeats, 13);
    let renders = report.get(&name, &qualified("render")).unwrap();
    assert_eq!((renders.calls, renders.repeats), (2, 0));
    // The request function is a call of its own request.
    assert_eq!(report.get(&name, &name).unwrap().calls, 2);
    let table = report.to_string();
    assert!(
        table.contains("user_by_id") && table.contains("max repeats"),
        "{table}"
    );
}

#[test]
fn calls_outside_any_request_are_not_attributed_and_scopes_nest() {
    let _turn = turn();
    render(1);
    let n = request::scope("outer-job", || {
        render(1) + request::scope("inner-job", || render(2))
    });
    assert_eq!(n, 5);
    let report = request::report();
    // The inner scope is part of the outer request.
    assert!(report.get("inner-job", &qualified("render")).is_none());
    let s = report.get("outer-job", &qualified("render")).unwrap();
    assert_eq!((s.requests, s.calls), (1, 2));
}

#[test]
fn different_keys_are_not_repeats() {
    let _turn = turn();
    request::scope("keys-job", || {
        for user in ["a", "b", "c", "a", "b", "a"] {
            user_by_id(user);
        }
    });
    let s = request::report()
        .get("keys-job", &qualified("user_by_id"))
        .unwrap();
    assert_eq!((s.calls, s.repeats), (6, 3));
}

#[test]
fn a_panicking_request_still_ends() {
    let _turn = turn();
    let outcome = std::panic::catch_unwind(|| {
        request::scope("panicking-job", || {
            render(1);
            panic!("handler failed");
        });
    });
    assert!(outcome.is_err());
    // The thread runs no request any more: later calls are not attributed.
    render(2);
    let s = request::report()
        .get("panicking-job", &qualified("render"))
        .unwrap();
    assert_eq!((s.requests, s.calls), (1, 1));
}

/// Many threads, each running its own requests: every request is
/// attributed exactly its own calls.
#[test]
fn requests_on_many_threads_are_exact() {
    const NAMES: [&str; 4] = [
        "thread-job-0",
        "thread-job-1",
        "thread-job-2",
        "thread-job-3",
    ];
    let _turn = turn();
    instrument_once_tests::together(4, |t| {
        for _ in 0..500 {
            request::scope(NAMES[t], || {
                for _ in 0..=t {
                    render(t);
                }
            });
        }
    });
    let report = request::report();
    for (t, name) in NAMES.iter().enumerate() {
        let s = report.get(name, &qualified("render")).unwrap();
        let per = u64::try_from(t).unwrap() + 1;
        assert_eq!(
            (s.requests, s.calls, s.max_calls),
            (500, 500 * per, per),
            "{name}"
        );
    }
}

/// Threads that exit hand their chains (which hold the request a thread
/// runs) to the threads started after them: a thread on a handed-over
/// chain, or on a new one while another thread runs a request, attributes
/// only its own scope's calls. (That a chain given back in a request is
/// taken without it is `depth::chain`'s unit test.)
#[test]
fn chains_handed_to_new_threads_carry_no_request() {
    let _turn = turn();
    for round in 0..64 {
        std::thread::spawn(move || {
            render(round);
            request::scope("handover-job", || {
                render(round);
                // A second thread at once, so chains are also taken new.
                std::thread::spawn(move || render(round)).join().unwrap();
            });
            render(round);
        })
        .join()
        .unwrap();
    }
    let s = request::report()
        .get("handover-job", &qualified("render"))
        .map(|s| (s.requests, s.calls, s.max_calls));
    assert_eq!(
        s,
        Some((64, 64, 1)),
        "the inner thread is not in the request"
    );
}

#[instrument_once(repeats_by(id))]
async fn fetch(id: u64) -> u64 {
    tokio::task::yield_now().await;
    id
}

/// Async requests on a multi-thread runtime: tasks that yield between
/// calls (and so move between worker threads) keep their own requests; a
/// task spawned from inside a request is not part of it.
#[test]
fn async_requests_follow_their_tasks_across_threads() {
    let _turn = turn();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..64u64 {
            let threads = Arc::clone(&threads);
            tasks.push(tokio::spawn(request::scope_async(
                "async-job",
                async move {
                    let mut sum = 0;
                    for i in 0..10 {
                        threads.lock().unwrap().insert(std::thread::current().id());
                        // Every other call repeats key 0.
                        sum += fetch(if i % 2 == 0 { 0 } else { task * 100 + i }).await;
                    }
                    // Spawned: a task of its own, not part of this request.
                    tokio::spawn(fetch(7)).await.unwrap();
                    sum
                },
            )));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    // (Which worker threads ran the tasks is the runtime's choice: under
    // load it may be one. The next test moves a request between threads
    // itself.)
    assert!(!threads.lock().unwrap().is_empty());
    let s = request::report()
        .get("async-job", &qualified("fetch"))
        .unwrap();
    assert_eq!((s.requests, s.calls, s.max_calls), (64, 640, 10));
    // Key 0 five times a request: four repeats.
    assert_eq!((s.repeats, s.max_repeats), (64 * 4, 4));
}

/// An async request polled first on one thread and finished on another
/// keeps its calls, on both threads.
#[test]
fn an_async_request_moved_to_another_thread_keeps_its_calls() {
    let _turn = turn();
    let mut request = Box::pin(request::scope_async("moved-job", async {
        let first = fetch(1).await;
        first + fetch(1).await
    }));
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    // First poll here: `fetch` yields once, so the request is pending.
    assert!(request.as_mut().poll(&mut cx).is_pending());
    let here = std::thread::current().id();
    let there = std::thread::spawn(move || {
        assert_eq!(futures::executor::block_on(request), 2);
        std::thread::current().id()
    })
    .join()
    .unwrap();
    assert_ne!(here, there);
    let s = request::report()
        .get("moved-job", &qualified("fetch"))
        .unwrap();
    assert_eq!((s.requests, s.calls, s.repeats), (1, 2, 1));
}

/// Past the cap on (request, function) pairs, calls are counted as refused
/// and said so by the report and `diagnose()`; a request's tally counts
/// what it cannot hold.
#[test]
fn what_the_caps_leave_out_is_counted_and_shown() {
    let _turn = turn();
    let kept = request::report().rows().len();
    request::set_max_pairs(kept);
    request::scope("capped-job", || render(1));
    // A pair past the cap still warns about its repeats.
    let ((), lines) = instrument_once_tests::record(tracing::Level::WARN, || {
        request::scope("capped-repeats-job", || {
            for _ in 0..5 {
                user_by_id("same");
            }
        });
    });
    let report = request::report();
    request::set_max_pairs(request::DEFAULT_MAX_PAIRS);
    assert!(
        lines.iter().any(|l| l.contains("capped-repeats-job")),
        "{lines:#?}"
    );
    assert!(report.get("capped-job", &qualified("render")).is_none());
    assert!(report.refused_calls() >= 1);
    assert!(report.to_string().contains("past the cap"), "{report}");
    assert!(
        instrument_once::diagnose()
            .to_string()
            .contains("request profile:"),
        "diagnose shows the loss"
    );
}

/// The WARN event: at the request's end, with the count, at most once a
/// minute per (request, function); off with 0.
#[test]
fn repeats_warn_once_a_minute() {
    let _turn = turn();
    let ((), lines) = instrument_once_tests::record(tracing::Level::WARN, || {
        for _ in 0..3 {
            request::scope("warned-job", || {
                for _ in 0..5 {
                    user_by_id("same");
                }
            });
        }
    });
    let warnings: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("warned-job") && l.contains("WARN"))
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(warnings[0].contains("repeats:u64=4"), "{}", warnings[0]);
    // The threshold (3) is repeats of one key: three calls with one key
    // (two repeats) stay quiet, four (three repeats) warn.
    for (calls, warns) in [(3, false), (4, true)] {
        let name: &'static str = if warns {
            "four-calls-job"
        } else {
            "three-calls-job"
        };
        let ((), lines) = instrument_once_tests::record(tracing::Level::WARN, || {
            request::scope(name, || {
                for _ in 0..calls {
                    user_by_id("one-key");
                }
            });
        });
        assert_eq!(lines.iter().any(|l| l.contains(name)), warns, "{lines:#?}");
    }
    // Many keys repeated once each are not one key repeated: five repeats
    // in all, at most one of any key, stay below the threshold of 3.
    let ((), lines) = instrument_once_tests::record(tracing::Level::WARN, || {
        request::scope("many-keys-job", || {
            for key in ["a", "b", "c", "d", "e"] {
                user_by_id(key);
                user_by_id(key);
            }
        });
    });
    assert!(
        !lines.iter().any(|l| l.contains("many-keys-job")),
        "{lines:#?}"
    );
    let many = request::report();
    let many = many.get("many-keys-job", &qualified("user_by_id")).unwrap();
    assert_eq!(many.repeats, 5, "every repeat is still counted");
    request::set_repeat_warning(0);
    let ((), lines) = instrument_once_tests::record(tracing::Level::WARN, || {
        request::scope("unwarned-job", || {
            for _ in 0..5 {
                user_by_id("same");
            }
        });
    });
    request::set_repeat_warning(request::DEFAULT_REPEAT_WARNING);
    assert!(
        !lines.iter().any(|l| l.contains("unwarned-job")),
        "{lines:#?}"
    );
}

#[test]
fn prometheus_has_the_request_families() {
    let _turn = turn();
    request::scope("metrics-job", || {
        user_by_id("x");
        user_by_id("x");
    });
    let text = instrument_once::registry().snapshot().to_prometheus();
    let f = qualified("user_by_id");
    assert!(text.contains("# TYPE instrument_once_calls_per_request histogram"));
    assert!(text.contains(&format!(
        "instrument_once_calls_per_request_bucket{{request=\"metrics-job\",function=\"{f}\",le=\"2\"}} 1"
    )));
    assert!(text.contains(&format!(
        "instrument_once_repeats_total{{request=\"metrics-job\",function=\"{f}\"}} 1"
    )));
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())));
    assert!(parsed.is_ok());
}

/// Two functions with one qualified name (same-named nested functions) are
/// two series of the request families, labelled as the other families
/// label them.
#[test]
fn same_named_functions_are_two_request_series() {
    fn first() -> u32 {
        #[instrument_once]
        fn lookup() -> u32 {
            1
        }
        lookup()
    }
    fn second() -> u32 {
        #[instrument_once]
        fn lookup() -> u32 {
            2
        }
        lookup()
    }
    let _turn = turn();
    request::scope("same-names-job", || first() + second());
    let text = instrument_once::registry().snapshot().to_prometheus();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("instrument_once_repeats_total{request=\"same-names-job\"")
                && l.contains("::lookup")
        })
        .collect();
    assert_eq!(series.len(), 2, "{series:#?}");
    assert_ne!(series[0], series[1]);
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())));
    assert!(parsed.is_ok());
}

fn parse_id(id: &str) -> Result<u32, std::num::ParseIntError> {
    id.parse()
}

/// Its span's field returns early when the id does not parse.
#[instrument_once(repeats_by(id), fields(n = parse_id(id)?))]
async fn load_by_id(id: &str) -> Result<u32, std::num::ParseIntError> {
    Ok(1)
}

/// An async call that returns early from its span's field (the body never
/// runs) is a repeat like any other, its time included, as a sync call's
/// early return is.
#[test]
fn an_early_return_from_a_field_adds_its_repeat_time() {
    let _turn = turn();
    // A subscriber, so that the span and its fields are built.
    let ((), _log) = instrument_once_tests::record(tracing::Level::TRACE, || {
        futures::executor::block_on(request::scope_async("early-returns", async {
            assert!(load_by_id("x").await.is_err());
            assert!(load_by_id("x").await.is_err());
        }));
    });
    let report = request::report();
    let s = report
        .get("early-returns", &qualified("load_by_id"))
        .unwrap();
    assert_eq!((s.calls, s.repeats), (2, 1));
    assert!(s.repeat_time > std::time::Duration::ZERO, "{s:?}");
}
