//! Loom models of the two lock-free protocols, checked in every
//! interleaving (preemption bound 2):
//!
//! * the stats snapshot: writers count a start (relaxed) and then one
//!   outcome (release) on their own shard; a reader loads every outcome
//!   (acquire) before any start. Every snapshot must satisfy
//!   `finished <= calls` (so `in_flight = calls - finished` is never
//!   negative) and no counter may go down between two snapshots;
//! * wrap-once: three threads add a layer under one key; exactly one layer
//!   results, and a reader sees a published chain whole.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p instrument-once-tests --test loom_models`.
#![cfg(loom)]
#![allow(missing_docs)]

use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

struct Shard {
    calls: AtomicU64,
    ok: AtomicU64,
    err: AtomicU64,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            calls: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            err: AtomicU64::new(0),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Snap {
    calls: u64,
    ok: u64,
    err: u64,
}

/// The reader's order: every outcome first, then every start.
fn snapshot(shards: &[Shard]) -> Snap {
    let mut s = Snap::default();
    for sh in shards {
        s.ok += sh.ok.load(Ordering::Acquire);
        s.err += sh.err.load(Ordering::Acquire);
    }
    for sh in shards {
        s.calls += sh.calls.load(Ordering::Acquire);
    }
    s
}

fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b
}

#[test]
fn snapshots_never_see_a_finish_without_its_start() {
    builder().check(|| {
        let shards = Arc::new([Shard::new(), Shard::new()]);
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let shards = Arc::clone(&shards);
                thread::spawn(move || {
                    let sh = &shards[w];
                    sh.calls.fetch_add(1, Ordering::Relaxed);
                    if w == 0 {
                        sh.ok.fetch_add(1, Ordering::Release);
                    } else {
                        sh.err.fetch_add(1, Ordering::Release);
                    }
                })
            })
            .collect();
        let first = snapshot(&shards[..]);
        let second = snapshot(&shards[..]);
        for s in [first, second] {
            assert!(
                s.ok + s.err <= s.calls,
                "in_flight would be negative: {s:?}"
            );
        }
        assert!(second.calls >= first.calls && second.ok >= first.ok && second.err >= first.err);
        for w in writers {
            w.join().unwrap();
        }
        let end = snapshot(&shards[..]);
        assert_eq!((end.calls, end.ok, end.err), (2, 1, 1));
    });
}

/// The model of `HookSlot`: the layer list under a mutex, the published
/// chain as an index into immutable versions, stored after each change.
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
