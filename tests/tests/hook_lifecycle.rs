//! Hook slots in a long-running service: a factory that panics leaves the
//! slot as it was; a factory may call its own slot; concurrent changes of
//! different keys both land; a dropped slot releases its chains. (Memory
//! under a million re-wraps: `hook_memory.rs`, alone in its process.)
//!
//! A call in flight anywhere holds back the chains retired after it
//! started, in every slot: the tests here take turns (`TURN`), so one
//! test's calls never hold back another's.
#![allow(missing_docs)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use instrument_once::hook::{hooks, HookSlot};

/// One test at a time (see the module documentation).
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `f` on a thread of its own, in this test's turn, and fails if it
/// takes longer than a minute (a deadlock would otherwise hang the suite).
/// The bound only catches a hang: the work itself takes milliseconds.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let _turn = turn();
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
    let _turn = turn();
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
    let _turn = turn();
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
    let _turn = turn();
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
    let _turn = turn();
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

/// A layer's factory that captures `held` (so its chain's lifetime shows in
/// the strong count).
fn holding(
    held: &Arc<()>,
) -> impl Fn(
    Arc<instrument_once::hook::HookFn<u64, u64>>,
) -> Arc<instrument_once::hook::HookFn<u64, u64>>
       + Send
       + Sync
       + 'static {
    let held = Arc::clone(held);
    move |inner| {
        let held = Arc::clone(&held);
        Arc::new(move |x| {
            let _ = &held;
            inner(x)
        })
    }
}

/// Calls in flight through one slot hold back only the chains retired while
/// they run, whichever slot retired them: a slot called all the time but
/// never changed does not keep another slot's removed layers alive.
#[test]
fn a_busy_slot_does_not_hold_back_another_slots_chains() {
    within_a_minute(|| {
        let busy = Arc::new(HookSlot::new("lifecycle::busy", |x: u64| x));
        // A layer, so that every call through the busy slot announces
        // itself (a slot without layers runs its base chain unannounced).
        busy.wrap_once("always", |inner| Arc::new(move |x| inner(x)));
        let changed = HookSlot::new("lifecycle::changed", |x: u64| x);
        let held = Arc::new(());
        let stop = Arc::new(AtomicBool::new(false));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (busy, stop) = (Arc::clone(&busy), Arc::clone(&stop));
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::black_box(busy.call(1));
                    }
                })
            })
            .collect();
        for _ in 0..200 {
            changed.wrap_once("k", holding(&held));
            changed.unwrap("k").unwrap();
            // The calls in flight on the busy slot at the removal leave
            // quickly; the ones after them do not hold the removed chain.
            assert_eq!(changed.reclaim_within(Duration::from_secs(30)), 0);
            assert_eq!(Arc::strong_count(&held), 1);
        }
        stop.store(true, Ordering::Relaxed);
        for caller in callers {
            caller.join().unwrap();
        }
        changed.reclaim();
        assert_eq!(Arc::strong_count(&held), 1);
    });
}

/// `reclaim_within` waits for the calls in flight through a removed layer
/// to leave, and drops what the layer captured before it returns; without
/// it, the captures stay while a call holds them.
#[test]
fn reclaim_within_releases_the_layer_once_calls_in_flight_leave() {
    within_a_minute(|| {
        let slot = Arc::new(HookSlot::new("lifecycle::settle", |x: u64| x));
        let held = Arc::new(());
        slot.wrap_once("k", holding(&held));
        let (entered_tx, entered_rx) = mpsc::channel();
        let in_flight = {
            let slot = Arc::clone(&slot);
            // A call that is inside the layer when the layer is removed,
            // and leaves 5 ms later.
            slot.wrap_once("slow", move |inner| {
                let entered_tx = entered_tx.clone();
                Arc::new(move |x| {
                    let _ = entered_tx.send(());
                    std::thread::sleep(Duration::from_millis(20));
                    inner(x)
                })
            });
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || slot.call(1))
        };
        entered_rx.recv().unwrap();
        slot.unwrap("k").unwrap();
        // The call in flight holds the chains that hold the layer.
        assert!(Arc::strong_count(&held) > 1);
        assert_eq!(slot.reclaim_within(Duration::from_secs(30)), 0);
        // Gone before `reclaim_within` returned: the call left meanwhile.
        assert_eq!(Arc::strong_count(&held), 1);
        assert_eq!(in_flight.join().unwrap(), 1);
    });
}

/// Many threads adding layers of distinct keys at once, each factory slow:
/// every change lands, none gives up (other threads' commits are progress,
/// not a factory changing its own slot).
#[test]
fn many_concurrent_changes_all_land() {
    within_a_minute(|| {
        const THREADS: usize = 80;
        const KEYS: [&str; THREADS] = {
            let mut keys = [""; THREADS];
            let names = [
                "k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09", "k10", "k11",
                "k12", "k13", "k14", "k15", "k16", "k17", "k18", "k19", "k20", "k21", "k22", "k23",
                "k24", "k25", "k26", "k27", "k28", "k29", "k30", "k31", "k32", "k33", "k34", "k35",
                "k36", "k37", "k38", "k39", "k40", "k41", "k42", "k43", "k44", "k45", "k46", "k47",
                "k48", "k49", "k50", "k51", "k52", "k53", "k54", "k55", "k56", "k57", "k58", "k59",
                "k60", "k61", "k62", "k63", "k64", "k65", "k66", "k67", "k68", "k69", "k70", "k71",
                "k72", "k73", "k74", "k75", "k76", "k77", "k78", "k79",
            ];
            let mut i = 0;
            while i < THREADS {
                keys[i] = names[i];
                i += 1;
            }
            keys
        };
        let slot = HookSlot::new("lifecycle::contention", |x: u64| x);
        instrument_once_tests::together(THREADS, |t| {
            slot.wrap_once(KEYS[t], |inner| {
                std::thread::sleep(Duration::from_micros(200));
                Arc::new(move |x| inner(x) + 1)
            });
        });
        assert_eq!(slot.layers().len(), THREADS);
        assert_eq!(slot.call(0), THREADS as u64);
    });
}

/// `hooks()` agrees with the slots while the same key is added and removed
/// from two threads (with a call held open, so changes reclaim between
/// their commit and their return), and lists nothing of a dropped slot.
#[test]
fn the_hooks_list_agrees_with_the_slot_under_racing_changes() {
    within_a_minute(|| {
        let slot = Arc::new(HookSlot::new("lifecycle::listing", |x: u64| x));
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let (entered_tx, entered_rx) = mpsc::channel();
        let hold_rx = std::sync::Mutex::new(hold_rx);
        let holder = {
            let held_open = HookSlot::new("lifecycle::held_open", move |(): ()| {
                let _ = entered_tx.send(());
                let _ = hold_rx.lock().unwrap().recv();
            });
            std::thread::spawn(move || held_open.call(()))
        };
        entered_rx.recv().unwrap();
        instrument_once_tests::together(2, |_| {
            for _ in 0..40 {
                slot.wrap_once("k", |inner| Arc::new(move |x| inner(x)));
                let _ = slot.unwrap("k");
            }
        });
        let listed = |slot_name: &str| hooks().iter().filter(|h| h.slot == slot_name).count();
        assert_eq!(listed("lifecycle::listing"), slot.layers().len());
        slot.wrap_once("k", |inner| Arc::new(move |x| inner(x)));
        assert_eq!(listed("lifecycle::listing"), 1);
        drop(hold_tx);
        holder.join().unwrap();
        drop(slot);
        assert_eq!(listed("lifecycle::listing"), 0);
    });
}

/// A captured value whose drop panics, freed by a later change: the panic
/// reaches that change's caller after the change landed (wrapped, and
/// listed by `hooks()`), and the other chains freed with it are still
/// freed.
#[test]
fn a_capture_that_panics_when_dropped_spoils_nothing_else() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            assert!(std::thread::panicking(), "bomb dropped");
        }
    }
    const KEYS: [&str; 15] = [
        "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11", "k12", "k13", "k14",
        "k15",
    ];
    let _turn = turn();
    let slot = HookSlot::new("lifecycle::bomb", |x: u64| x);
    let held = Arc::new(());
    // Every chain built with this layer holds a bomb of its own.
    slot.wrap_once("bomb", |inner| {
        let bomb = Bomb;
        Arc::new(move |x| {
            let _ = &bomb;
            inner(x)
        })
    });
    slot.wrap_once("held", holding(&held));
    // Each change retires a chain; the sixteenth retired one makes the
    // change free what it can, and the first bomb goes off in there.
    let mut exploded = None;
    for key in KEYS {
        if catch_unwind(AssertUnwindSafe(|| slot.wrap_once(key, |inner| inner))).is_err() {
            exploded = Some(key);
            break;
        }
    }
    let key = exploded.expect("a change freed the retired chains");
    assert!(slot.is_wrapped(key), "the change landed");
    let listed: Vec<&str> = hooks()
        .iter()
        .filter(|h| h.slot == "lifecycle::bomb")
        .map(|h| h.layer.key)
        .collect();
    assert_eq!(
        listed,
        slot.layers().iter().map(|l| l.key).collect::<Vec<_>>()
    );
    assert!(listed.contains(&key));
    // Every retired chain was freed despite the panic: left are `held`
    // itself, the layer's factory, and the current chain's layer.
    assert_eq!(Arc::strong_count(&held), 3);
    assert_eq!(slot.call(5), 5);
    // The current chain holds a bomb too: it goes off when the slot drops,
    // which still releases the rest.
    assert!(catch_unwind(AssertUnwindSafe(move || drop(slot))).is_err());
    assert_eq!(Arc::strong_count(&held), 1);
}

/// Each layer counts the calls that went through it: the outermost is
/// counted by the call itself, the ones beneath by a wrapper. A layer keeps
/// its count when it stops being the outermost or becomes it, and a call
/// that a layer answers without calling beneath counts only down to it.
#[test]
fn every_layer_counts_the_calls_that_went_through_it() {
    let _turn = turn();
    let slot = HookSlot::new("test::counted", |x: u32| x);
    let calls = |slot: &HookSlot<u32, u32>| -> Vec<(&'static str, u64)> {
        slot.layers().iter().map(|l| (l.key, l.calls)).collect()
    };
    slot.wrap_once("a", |inner| Arc::new(move |x| inner(x) + 1));
    assert_eq!(slot.call(1), 2);
    slot.wrap_once("b", |inner| {
        Arc::new(move |x| if x == 0 { 100 } else { inner(x) * 2 })
    });
    assert_eq!(slot.call(1), 4);
    // "b" answers 0 itself: "a" is not called.
    assert_eq!(slot.call(0), 100);
    slot.wrap_once("c", |inner| Arc::new(move |x| inner(x)));
    assert_eq!(slot.call(2), 6);
    assert_eq!(calls(&slot), [("a", 3), ("b", 3), ("c", 1)]);
    // "b" is the outermost again.
    slot.unwrap("c").unwrap();
    assert_eq!(slot.call(1), 4);
    assert_eq!(calls(&slot), [("a", 4), ("b", 4)]);
    // "a" is the outermost.
    slot.unwrap("b").unwrap();
    assert_eq!(slot.call(1), 2);
    assert_eq!(calls(&slot), [("a", 5)]);
    // Without layers, nothing is counted anywhere.
    slot.unwrap("a").unwrap();
    assert_eq!(slot.call(1), 1);
    assert!(calls(&slot).is_empty());
    assert!(hooks().iter().all(|h| h.slot != "test::counted"));
}
