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

use super::{Outcome, SiteStats, Stats};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

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
            block.finish(Outcome::Ok);
            // The thread exits: its block goes back with its counts.
            block.release();
        });
        let second = thread::spawn(move || {
            let block = stats.new_block();
            block.start();
            block.finish(Outcome::Err);
        });
        let previous = stats.snapshot();
        check(&previous, &Stats::default());
        let now = stats.snapshot();
        check(&now, &previous);
        first.join().unwrap();
        // A later thread takes the first one's block over (or a new one).
        let later = stats.new_block();
        later.start();
        later.finish(Outcome::Panic);
        second.join().unwrap();
        let end = stats.snapshot();
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
                    stats.new_block().finish(Outcome::Cancelled);
                    true
                } else {
                    false
                }
            })
        };
        let s = stats.snapshot();
        check(&s, &Stats::default());
        starter.join().unwrap();
        let handed_over = finisher.join().unwrap();
        let end = stats.snapshot();
        check(&end, &s);
        assert_eq!((end.calls, end.cancelled), (1, u64::from(handed_over)));
    });
}
