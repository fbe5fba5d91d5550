//! Hook slots in a long-running service: a factory that panics leaves the
//! slot as it was; a factory may call its own slot; concurrent changes of
//! different keys both land; a dropped slot releases its chains. (Memory
//! under a million re-wraps: `hook_memory.rs`, alone in its process.)
#![allow(missing_docs)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use instrument_once::hook::{hooks, HookSlot};

/// Runs `f` on a thread of its own and fails if it takes longer than a
/// minute (a deadlock would otherwise hang the suite). The bound only
/// catches a hang: the work itself takes milliseconds.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => panic!("still running after a minute ({e}): deadlocked"),
    }
}

/// A factory that panics leaves the slot exactly as it was (its layers, its
/// chain, the `hooks()` list), the panic reaches the caller, and later
/// changes do not run the panicking factory again.
#[test]
fn a_panicking_factory_leaves_the_slot_as_it_was() {
    let slot = HookSlot::new("lifecycle::panicking_wrap", |x: u32| x * 2);
    slot.wrap_once("first", |inner| Arc::new(move |x| inner(x) + 1));
    let listed = |slot: &HookSlot<u32, u32>| -> Vec<&'static str> {
        hooks()
            .iter()
            .filter(|h| h.slot == slot.name())
            .map(|h| h.layer.key)
            .collect()
    };
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ran);
    let result = catch_unwind(AssertUnwindSafe(|| {
        slot.wrap_once("bad", move |_inner| {
            counted.fetch_add(1, Ordering::SeqCst);
            panic!("factory failed")
        })
    }));
    assert!(result.is_err(), "the panic reaches the caller");
    assert!(!slot.is_wrapped("bad"));
    assert_eq!(slot.layers().len(), 1);
    assert_eq!(listed(&slot), ["first"]);
    assert_eq!(slot.call(1), 3, "the chain is unchanged");
    // The key is free again: a working factory for it applies.
    slot.wrap_once("bad", |inner| Arc::new(move |x| inner(x) + 100));
    assert_eq!(slot.call(1), 103);
    slot.wrap_once("third", |inner| Arc::new(move |x| inner(x)));
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "the panicking factory never ran again"
    );
    assert_eq!(listed(&slot), ["first", "bad", "third"]);
}

/// The same for `unwrap`: rebuilding the chain runs the remaining layers'
/// factories; one that panics leaves the removed layer in place.
#[test]
fn a_factory_panicking_during_unwrap_leaves_the_slot_as_it_was() {
    let slot = HookSlot::new("lifecycle::panicking_unwrap", |x: u32| x);
    let broken = Arc::new(AtomicBool::new(false));
    let breaks = Arc::clone(&broken);
    // Builds until it is broken (every change rebuilds every layer).
    slot.wrap_once("fragile", move |inner| {
        assert!(!breaks.load(Ordering::SeqCst), "cannot be rebuilt");
        Arc::new(move |x| inner(x) + 1)
    });
    slot.wrap_once("outer", |inner| Arc::new(move |x| inner(x) * 10));
    assert_eq!(slot.call(1), 20);
    broken.store(true, Ordering::SeqCst);
    let result = catch_unwind(AssertUnwindSafe(|| slot.unwrap("outer")));
    assert!(result.is_err());
    assert!(slot.is_wrapped("outer"), "the layer is still there");
    assert_eq!(slot.call(1), 20, "and still called");
    let keys: Vec<_> = slot.layers().iter().map(|l| l.key).collect();
    assert_eq!(keys, ["fragile", "outer"]);
}

/// A factory may call any method of its own slot (the lock is not held
/// while it runs), including another change.
#[test]
fn a_factory_may_call_its_own_slot() {
    let slot = within_a_minute(|| {
        let slot = Arc::new(HookSlot::new("lifecycle::reentrant", |x: u32| x));
        let inside = Arc::clone(&slot);
        slot.wrap_once("curious", move |inner| {
            assert!(!inside.is_wrapped("curious"));
            let _ = (inside.layers(), inside.original(), format!("{inside:?}"));
            assert_eq!(inside.call(5), inside.call(5));
            inside.wrap_once("nested", |inner| Arc::new(move |x| inner(x) + 1));
            Arc::new(move |x| inner(x) * 3)
        });
        slot
    });
    let keys: Vec<_> = slot.layers().iter().map(|l| l.key).collect();
    assert_eq!(keys, ["nested", "curious"]);
    assert_eq!(slot.call(1), 6);
}

/// Two threads wrapping different keys at once both land, each once.
#[test]
fn concurrent_changes_of_different_keys_both_land() {
    for round in 0..200 {
        let slot = HookSlot::new("lifecycle::race", |x: u64| x);
        let keys = ["left", "right"];
        instrument_once_tests::together(2, |t| {
            slot.wrap_once(keys[t], |inner| Arc::new(move |x| inner(x) + 1));
        });
        let mut keys: Vec<_> = slot.layers().iter().map(|l| l.key).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["left", "right"], "round {round}");
        assert_eq!(slot.call(0), 2, "round {round}: each layer once");
    }
}

/// Dropping a slot releases every chain it published.
#[test]
fn dropping_a_slot_releases_its_chains() {
    let captured = Arc::new(());
    {
        let slot = HookSlot::new("lifecycle::dropped", |x: u8| x);
        for i in 0..50 {
            let held = Arc::clone(&captured);
            slot.wrap_once("k", move |inner| {
                let held = Arc::clone(&held);
                Arc::new(move |x| {
                    let _ = &held;
                    inner(x)
                })
            });
            if i % 2 == 0 {
                slot.unwrap("k").unwrap();
            }
        }
        assert!(Arc::strong_count(&captured) > 1);
    }
    assert_eq!(Arc::strong_count(&captured), 1);
}
