//! Loom models of this module's own code (its counters and block lists use
//! loom's atomics and mutex under `cfg(loom)`, see `crate::sync`): every
//! snapshot taken while writers count satisfies
//! `ok + errors + panics + cancelled + in_flight == calls` with `in_flight`
//! never negative, no counter goes down between two snapshots, and no count
//! is lost when an exiting thread hands its block to the next one or when
//! an async call started on one thread finishes on another.
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p instrument-once --lib stats::loom`

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::histogram::{index_of, Buckets, Window};
use super::{Outcome, SiteStats, Stats};
use crate::sync::model;

fn leaked() -> &'static SiteStats {
    Box::leak(Box::new(SiteStats::new()))
}

fn check(s: &Stats, previous: &Stats) {
    // (Release builds wrap: a negative `in_flight` shows as a huge one.)
    assert!(s.in_flight <= s.calls, "more finished than started: {s:?}");
    assert_eq!(
        s.ok + s.errors + s.panics + s.cancelled + s.in_flight,
        s.calls,
        "{s:?}"
    );
    for (now, before) in [
        (s.calls, previous.calls),
        (s.ok, previous.ok),
        (s.errors, previous.errors),
        (s.panics, previous.panics),
        (s.cancelled, previous.cancelled),
    ] {
        assert!(now >= before, "went down: {previous:?} -> {s:?}");
    }
}

/// Two writers on their own blocks (one hands its block over at exit to a
/// third), a reader snapshotting concurrently.
#[test]
fn snapshots_stay_consistent_across_a_hand_over() {
    model(|| {
        let stats = leaked();
        let first = thread::spawn(move || {
            let block = stats.new_block();
            block.start();
            block.finish(Outcome::Ok, true);
            // The thread exits: its block goes back with its counts.
            block.release();
        });
        let second = thread::spawn(move || {
            let block = stats.new_block();
            block.start();
            block.finish(Outcome::Err, true);
        });
        let previous = stats.snapshot(true);
        check(&previous, &Stats::default());
        let now = stats.snapshot(true);
        check(&now, &previous);
        first.join().unwrap();
        // A later thread takes the first one's block over (or a new one).
        let later = stats.new_block();
        later.start();
        later.finish(Outcome::Panic, true);
        second.join().unwrap();
        let end = stats.snapshot(true);
        check(&end, &now);
        assert_eq!(
            (end.calls, end.ok, end.errors, end.panics, end.in_flight),
            (3, 1, 1, 1, 0),
            "{end:?}"
        );
    });
}

/// An async call counted at its start on one thread and finished on
/// another (the executor hands the task over with a release/acquire pair):
/// a snapshot never sees the outcome without the start.
#[test]
fn a_call_finished_on_another_thread_is_never_finished_before_started() {
    model(|| {
        let stats = leaked();
        let handed = Arc::new(AtomicBool::new(false));
        let starter = {
            let handed = Arc::clone(&handed);
            thread::spawn(move || {
                stats.new_block().start();
                handed.store(true, Ordering::Release);
            })
        };
        let finisher = {
            let handed = Arc::clone(&handed);
            thread::spawn(move || {
                if handed.load(Ordering::Acquire) {
                    stats.new_block().finish(Outcome::Cancelled, true);
                    true
                } else {
                    false
                }
            })
        };
        let s = stats.snapshot(true);
        check(&s, &Stats::default());
        starter.join().unwrap();
        let handed_over = finisher.join().unwrap();
        let end = stats.snapshot(true);
        check(&end, &s);
        assert_eq!((end.calls, end.cancelled), (1, u64::from(handed_over)));
    });
}

/// A window for a model, with a reader of the count of two buckets and of
/// all of them. (An `Arc`, not leaked: dropped at the end of each
/// execution, the window gives its memory back to the budget.)
fn window_and_reader(
    a: u64,
    b: u64,
) -> (
    Arc<Window>,
    impl Fn() -> (u64, u64, u64) + Clone + Send + 'static,
) {
    let window = Arc::new(*Window::new().expect("budget"));
    let reading = Arc::clone(&window);
    let read = move || {
        let mut buckets = Buckets::new();
        reading.read(&mut buckets);
        (
            buckets.count(index_of(a)),
            buckets.count(index_of(b)),
            buckets.total(),
        )
    };
    (window, read)
}

/// A histogram window's carry (a count passing `u32::MAX` moves into the
/// high half) under the sequence lock, against a concurrent reader: the
/// reader never sees a high half without its low one or the reverse, so
/// the count it reads never goes down.
///
/// The reader is the spawned thread: loom schedules a spawned thread early
/// only where its next operation conflicts with the running one's, and the
/// reader's first load (of the sequence) conflicts with the carry's stores.
#[test]
fn a_read_never_tears_a_carry() {
    model(|| {
        let ns = 1_000;
        let (window, read) = window_and_reader(ns, ns);
        assert!(window.record(ns));
        // Placed at the power of two of `ns` (no room below under loom).
        let slot = usize::try_from(index_of(ns).rem_euclid(8)).unwrap();
        window.preset(slot, u32::MAX);
        let reader = {
            let read = read.clone();
            thread::spawn(move || [read().0, read().0])
        };
        // Carries: the low half goes to 0, the high half to 1.
        assert!(window.record(ns));
        let [first, second] = reader.join().unwrap();
        let before = u64::from(u32::MAX);
        for n in [first, second] {
            assert!(n == before || n == before + 1, "torn: {n:#x}");
        }
        assert!(first <= second, "{first} {second}");
        assert_eq!(read().0, before + 1);
    });
}

/// A histogram window sliding down a power of two (to a value below it)
/// against a concurrent reader: the reader sees the counted bucket exactly
/// once, with or without the new value, never a half-moved window. (A
/// slide writes only the cells whose value changes, which keeps this model
/// small: when it wrote every cell, loom took 23 minutes over it at bound
/// 2.)
#[test]
fn a_read_never_sees_a_window_half_slid() {
    model(|| {
        let (high, low) = (1_000, 300);
        let (window, read) = window_and_reader(high, low);
        assert!(window.record(high));
        let reader = thread::spawn(read.clone());
        // One power of two below the window: it slides.
        assert!(window.record(low));
        // The total too: a read that found the moved value in its old cell
        // and its new one would count it twice.
        let seen = reader.join().unwrap();
        assert!(seen == (1, 0, 1) || seen == (1, 1, 2), "{seen:?}");
        assert_eq!(read(), (1, 1, 2));
    });
}
