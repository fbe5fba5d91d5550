//! Loom models of the two lock-free protocols, checked in every
//! interleaving (preemption bound 2):
//!
//! * the stats snapshot: each writer thread counts into its own block with
//!   a plain load and store (a start relaxed, then one outcome release); an
//!   exiting thread hands its block, counts included, to the next thread
//!   through the site's list (a mutex); an async call may start on one
//!   thread and finish on another. A reader locks the list and loads every
//!   outcome (acquire) before any start. Every snapshot must satisfy
//!   `finished <= calls` (so `in_flight = calls - finished` is never
//!   negative), no counter may go down between two snapshots, and no count
//!   is lost in a hand-over;
//! * wrap-once: three threads add a layer under one key; exactly one layer
//!   results, and a reader sees a published chain whole.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p instrument-once-tests --test loom_models`.
#![cfg(loom)]
#![allow(missing_docs)]

use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

#[derive(Default)]
struct Block {
    calls: AtomicU64,
    ok: AtomicU64,
    err: AtomicU64,
}

/// What only the owning thread does: a load and a store.
fn bump(cell: &AtomicU64, order: Ordering) {
    cell.store(cell.load(Ordering::Relaxed) + 1, order);
}

/// A site's list of blocks and the ones whose thread exited.
#[derive(Default)]
struct Blocks {
    all: Vec<Arc<Block>>,
    free: Vec<Arc<Block>>,
}

impl Blocks {
    fn take(list: &Mutex<Blocks>) -> Arc<Block> {
        let mut list = list.lock().unwrap();
        if let Some(b) = list.free.pop() {
            return b;
        }
        let b = Arc::new(Block::default());
        list.all.push(Arc::clone(&b));
        b
    }

    fn give_back(list: &Mutex<Blocks>, b: Arc<Block>) {
        list.lock().unwrap().free.push(b);
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Snap {
    calls: u64,
    ok: u64,
    err: u64,
}

/// The reader's order: every outcome first, then every start, under the
/// list's lock.
fn snapshot(list: &Mutex<Blocks>) -> Snap {
    let list = list.lock().unwrap();
    let mut s = Snap::default();
    for b in &list.all {
        s.ok += b.ok.load(Ordering::Acquire);
        s.err += b.err.load(Ordering::Acquire);
    }
    for b in &list.all {
        s.calls += b.calls.load(Ordering::Acquire);
    }
    s
}

fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b
}

fn check(first: Snap, second: Snap) {
    for s in [first, second] {
        assert!(
            s.ok + s.err <= s.calls,
            "in_flight would be negative: {s:?}"
        );
    }
    assert!(
        second.calls >= first.calls && second.ok >= first.ok && second.err >= first.err,
        "a counter went down: {first:?} then {second:?}"
    );
}

#[test]
fn snapshots_never_see_a_finish_without_its_start() {
    builder().check(|| {
        let list = Arc::new(Mutex::new(Blocks::default()));
        // Writer 0 makes a call and exits, giving its block back; writer 1
        // makes a call that fails, on a block it takes (writer 0's, if it is
        // back already).
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let list = Arc::clone(&list);
                thread::spawn(move || {
                    let b = Blocks::take(&list);
                    bump(&b.calls, Ordering::Relaxed);
                    if w == 0 {
                        bump(&b.ok, Ordering::Release);
                        Blocks::give_back(&list, b);
                    } else {
                        bump(&b.err, Ordering::Release);
                    }
                })
            })
            .collect();
        let first = snapshot(&list);
        let second = snapshot(&list);
        check(first, second);
        for w in writers {
            w.join().unwrap();
        }
        let end = snapshot(&list);
        assert_eq!((end.calls, end.ok, end.err), (2, 1, 1), "a count was lost");
    });
}

#[test]
fn an_async_call_finished_on_another_thread_is_never_in_flight_negative() {
    builder().check(|| {
        let list = Arc::new(Mutex::new(Blocks::default()));
        // The executor's hand-over of the task: release / acquire.
        let handed = Arc::new(AtomicBool::new(false));
        let first_thread = {
            let (list, handed) = (Arc::clone(&list), Arc::clone(&handed));
            thread::spawn(move || {
                let b = Blocks::take(&list);
                bump(&b.calls, Ordering::Relaxed);
                handed.store(true, Ordering::Release);
            })
        };
        let second_thread = {
            let (list, handed) = (Arc::clone(&list), Arc::clone(&handed));
            thread::spawn(move || {
                let b = Blocks::take(&list);
                if handed.load(Ordering::Acquire) {
                    bump(&b.ok, Ordering::Release);
                }
            })
        };
        let first = snapshot(&list);
        let second = snapshot(&list);
        check(first, second);
        first_thread.join().unwrap();
        second_thread.join().unwrap();
        let end = snapshot(&list);
        assert!(end.calls == 1 && end.ok <= 1);
    });
}

/// The model of `HookSlot`: the layer list under a mutex, the published
/// chain as an index into the slot's append-only list of immutable chains,
/// stored (release) after the chain is appended.
struct Slot {
    layers: Mutex<Vec<&'static str>>,
    versions: Mutex<Vec<Arc<Vec<&'static str>>>>,
    published: AtomicUsize,
}

impl Slot {
    fn wrap_once(&self, key: &'static str) {
        let mut layers = self.layers.lock().unwrap();
        if layers.contains(&key) {
            return;
        }
        layers.push(key);
        let mut versions = self.versions.lock().unwrap();
        versions.push(Arc::new(layers.clone()));
        self.published.store(versions.len() - 1, Ordering::Release);
    }

    fn current(&self) -> Arc<Vec<&'static str>> {
        let i = self.published.load(Ordering::Acquire);
        Arc::clone(&self.versions.lock().unwrap()[i])
    }
}

#[test]
fn three_threads_wrapping_one_key_make_one_layer() {
    builder().check(|| {
        let slot = Arc::new(Slot {
            layers: Mutex::new(Vec::new()),
            versions: Mutex::new(vec![Arc::new(Vec::new())]),
            published: AtomicUsize::new(0),
        });
        let wrappers: Vec<_> = (0..3)
            .map(|_| {
                let slot = Arc::clone(&slot);
                thread::spawn(move || slot.wrap_once("apm"))
            })
            .collect();
        let seen = slot.current();
        assert!(
            seen.is_empty() || *seen == ["apm"],
            "a torn chain: {seen:?}"
        );
        for w in wrappers {
            w.join().unwrap();
        }
        assert_eq!(*slot.layers.lock().unwrap(), ["apm"]);
        assert_eq!(*slot.current(), ["apm"]);
    });
}
