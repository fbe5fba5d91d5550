//! Exact statistics under concurrency, and the snapshot invariants.
#![allow(missing_docs)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use instrument_once::{instrument_once, Stats};
use instrument_once_tests::{site, together};

#[derive(Debug)]
struct MyErr;
type Res<T> = Result<T, MyErr>;

/// `i % 3`: 0 ok, 1 `Err`, 2 panic.
#[instrument_once(timing = false)]
fn mixed(i: u64) -> Res<u64> {
    match i % 3 {
        0 => Ok(i),
        1 => Err(MyErr),
        _ => panic!("planned panic {i}"),
    }
}

#[instrument_once]
fn mixed_timed(i: u64) -> std::io::Result<u64> {
    if i % 2 == 0 {
        Ok(i)
    } else {
        Err(std::io::Error::other("odd"))
    }
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planned = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with("planned"));
            if !planned {
                default(info);
            }
        }));
    });
}

fn threads(n: usize, per_thread: u64, f: fn(u64)) {
    together(n, |_| (0..per_thread).for_each(f));
}

fn call_mixed(i: u64) {
    let _ = catch_unwind(AssertUnwindSafe(|| mixed(i)));
}

#[test]
fn sixteen_threads_count_every_call_exactly() {
    quiet_panics();
    // Full counts (16 x 100k) in release; a tenth of them in debug builds.
    let per_thread = if cfg!(debug_assertions) {
        9_999
    } else {
        99_999
    };
    threads(16, per_thread, call_mixed);
    let s = site!(mixed).stats();
    let total = 16 * per_thread;
    assert_eq!(s.calls, total);
    assert_eq!(
        (s.ok, s.errors, s.panics),
        (total / 3, total / 3, total / 3)
    );
    assert_eq!((s.in_flight, s.cancelled), (0, 0));
    assert_eq!(s.latency.count, 0, "timing = false never reads the clock");
}

#[test]
fn aliases_of_result_count_errors_and_timing_counts_returns() {
    threads(4, 1000, |i| {
        let _ = mixed_timed(i);
    });
    let s = site!(mixed_timed).stats();
    assert_eq!((s.calls, s.ok, s.errors), (4000, 2000, 2000));
    assert_eq!(s.latency.count, s.ok + s.errors);
    assert!(s.latency.p50 <= s.latency.p99 && s.latency.p99 <= s.latency.max);
    assert!(s.latency.max > Duration::ZERO);
}

#[instrument_once]
fn busy(i: u64) -> Result<u64, u64> {
    if i % 5 == 0 {
        Err(i)
    } else {
        Ok(std::hint::black_box(i))
    }
}

fn check(s: &Stats, prev: &Stats) {
    assert_eq!(
        s.ok + s.errors + s.panics + s.cancelled + s.in_flight,
        s.calls,
        "{s:?}"
    );
    assert_eq!(s.latency.count, s.ok + s.errors, "{s:?}");
    assert!(
        s.calls >= prev.calls && s.ok >= prev.ok && s.errors >= prev.errors,
        "went down: {prev:?} -> {s:?}"
    );
    assert!(s.latency.count >= prev.latency.count);
}

#[test]
fn snapshots_under_concurrent_writers_keep_every_invariant() {
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let _ = busy(i);
                    i += 1;
                }
            })
        })
        .collect();
    let site = site!(busy);
    // 100k in release (`.ci/run` runs this file with `--release`); fewer in debug.
    let snapshots = if cfg!(debug_assertions) {
        5_000
    } else {
        100_000
    };
    let mut prev = site.stats();
    for _ in 0..snapshots {
        let s = site.stats();
        check(&s, &prev);
        prev = s;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let end = site.stats();
    check(&end, &prev);
    assert_eq!(end.in_flight, 0);
    assert!(end.calls > 0);
}

/// Runs until the test sends on `release`: the call is in flight for as long
/// as the test needs, whatever the scheduler does.
#[instrument_once]
fn held(release: &std::sync::mpsc::Receiver<()>) {
    release.recv().unwrap();
}

#[test]
fn in_flight_calls_survive_a_reset() {
    let site = site!(held);
    let (release, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || held(&rx));
    while site.stats().in_flight == 0 {
        std::thread::yield_now();
    }
    site.reset_stats();
    let s = site.stats();
    assert_eq!(
        (s.calls, s.in_flight),
        (1, 1),
        "the running call stays counted: {s:?}"
    );
    // The call lasts at least this long (a sleep never returns early).
    std::thread::sleep(Duration::from_millis(50));
    release.send(()).unwrap();
    t.join().unwrap();
    let s = site.stats();
    assert_eq!((s.calls, s.ok, s.in_flight), (1, 1, 0), "{s:?}");
    // 3.2% below the true value at most (the histogram's error).
    assert!(s.latency.p50 >= Duration::from_millis(48), "{s:?}");
}

#[instrument_once(stats = false)]
fn spans_only() {}

#[test]
fn stats_false_records_nothing_but_stays_listed() {
    spans_only();
    let s = site!(spans_only);
    assert!(!s.records_stats());
    assert_eq!(s.stats().calls, 0);
}

#[instrument_once]
async fn pending_forever(gate: futures::channel::oneshot::Receiver<()>) -> u32 {
    let _ = gate.await;
    1
}

#[test]
fn async_calls_count_at_first_poll_and_dropped_futures_are_cancelled() {
    use futures::FutureExt;
    let site = site!(pending_forever);
    // Dropped before its first poll: never started, nothing recorded.
    let (_tx, rx) = futures::channel::oneshot::channel();
    drop(pending_forever(rx));
    assert_eq!(site.stats().calls, 0);
    // Polled once, then dropped: cancelled.
    let (_tx, rx) = futures::channel::oneshot::channel();
    let mut fut = Box::pin(pending_forever(rx));
    assert!(fut.as_mut().now_or_never().is_none());
    assert_eq!(site.stats().in_flight, 1);
    drop(fut);
    // Completed.
    let (tx, rx) = futures::channel::oneshot::channel();
    tx.send(()).unwrap();
    assert_eq!(futures::executor::block_on(pending_forever(rx)), 1);
    let s = site.stats();
    assert_eq!(
        (s.calls, s.ok, s.cancelled, s.in_flight),
        (2, 1, 1, 0),
        "{s:?}"
    );
}

#[instrument_once]
fn exported() {}

#[test]
fn exports_show_the_counts() {
    exported();
    let snap = instrument_once::registry().snapshot();
    let text = snap.to_prometheus();
    let name = concat!(module_path!(), "::exported");
    assert!(
        text.contains(&format!(
            "instrument_once_in_flight{{function=\"{name}\"}} 0"
        )),
        "{text}"
    );
    let table = snap.to_string();
    assert!(table.lines().any(|l| l.starts_with(name)), "{table}");
}
