//! Loom models of this module's own code (compiled with loom's atomics,
//! mutexes and thread-locals, see `crate::sync`): a call through a slot
//! never runs a chain that was freed (loom fails the model on a mutable
//! access to a chain's cell concurrent with a call's), in every interleaving
//! of a call with a change and its reclamation.
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p instrument-once --lib hook::loom`

use std::sync::Arc;

use loom::thread;

use super::HookSlot;
use crate::sync::model;

#[test]
fn a_call_never_runs_a_freed_chain() {
    model(|| {
        let slot = Arc::new(HookSlot::new("loom::unwrap", |x: u32| x));
        slot.wrap_once("a", |inner| Arc::new(move |x| inner(x) + 1));
        let caller = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                // A first call attaches the thread's record: the second is
                // the common case of every later call (an idle record).
                let first = slot.call(1);
                (first, slot.call(1))
            })
        };
        // Removes the layer and reclaims: frees the old chain only if no
        // call can still be inside it.
        slot.unwrap("a").unwrap();
        let (first, seen) = caller.join().unwrap();
        assert!(first == 1 || first == 2, "{first}");
        assert!(seen == 1 || seen == 2, "{seen}");
        // Nothing in flight any more: everything retired goes.
        assert_eq!(slot.reclaim(), 0);
    });
}

#[test]
fn nested_calls_keep_their_chains() {
    model(|| {
        let inner_slot = Arc::new(HookSlot::new("loom::inner", |x: u32| x));
        let outer_slot = {
            let inner_slot = Arc::clone(&inner_slot);
            Arc::new(HookSlot::new("loom::outer", move |x: u32| {
                inner_slot.call(x) * 10
            }))
        };
        inner_slot.wrap_once("a", |inner| Arc::new(move |x| inner(x) + 1));
        // A layer for good, so that the outer call is announced and the
        // inner one is a nested call (a slot without layers is not).
        outer_slot.wrap_once("kept", |inner| Arc::new(move |x| inner(x)));
        let caller = {
            let outer_slot = Arc::clone(&outer_slot);
            thread::spawn(move || outer_slot.call(1))
        };
        inner_slot.unwrap("a").unwrap();
        let seen = caller.join().unwrap();
        assert!(seen == 10 || seen == 20, "{seen}");
    });
}

#[test]
fn a_chain_stays_alive_after_a_nested_call_returns() {
    model(|| {
        let inner_slot = Arc::new(HookSlot::new("loom::nested_inner", |x: u32| x));
        // A layer for good: the nested call goes through the thread's
        // record (raising and restoring its depth).
        inner_slot.wrap_once("kept", |inner| Arc::new(move |x| inner(x)));
        let outer_slot = Arc::new(HookSlot::new("loom::nested_outer", |x: u32| x));
        {
            let inner_slot = Arc::clone(&inner_slot);
            // The layer calls another slot, then goes on running: its
            // chain must outlive the nested call.
            outer_slot.wrap_once("a", move |inner| {
                let inner_slot = Arc::clone(&inner_slot);
                Arc::new(move |x| inner(inner_slot.call(x)) + 1)
            });
        }
        let caller = {
            let outer_slot = Arc::clone(&outer_slot);
            thread::spawn(move || outer_slot.call(1))
        };
        outer_slot.unwrap("a").unwrap();
        let seen = caller.join().unwrap();
        assert!(seen == 1 || seen == 2, "{seen}");
    });
}

/// Two slots changed at once by two threads, while a third calls through
/// one of them into the other: neither change frees a chain the call is in.
#[test]
fn two_writers_on_two_slots_free_nothing_in_use() {
    model(|| {
        let inner_slot = Arc::new(HookSlot::new("loom::two_inner", |x: u32| x));
        let outer_slot = {
            let inner_slot = Arc::clone(&inner_slot);
            Arc::new(HookSlot::new("loom::two_outer", move |x: u32| {
                inner_slot.call(x) * 10
            }))
        };
        inner_slot.wrap_once("a", |inner| Arc::new(move |x| inner(x) + 1));
        outer_slot.wrap_once("b", |inner| Arc::new(move |x| inner(x) + 2));
        let caller = {
            let outer_slot = Arc::clone(&outer_slot);
            thread::spawn(move || outer_slot.call(1))
        };
        let writer = {
            let inner_slot = Arc::clone(&inner_slot);
            thread::spawn(move || inner_slot.unwrap("a").unwrap())
        };
        outer_slot.unwrap("b").unwrap();
        writer.join().unwrap();
        let seen = caller.join().unwrap();
        assert!([10, 12, 20, 22].contains(&seen), "{seen}");
    });
}

/// A call on a slot without layers runs the original without announcing
/// itself: while it may be starting, a layer is added and removed again.
/// A call that found the layered chain announces and loads the chain
/// again, so the removal's reclamation never frees a chain it runs.
#[test]
fn a_call_racing_a_layer_on_and_off_runs_a_live_chain() {
    model(|| {
        let slot = Arc::new(HookSlot::new("loom::on_off", |x: u32| x));
        let caller = {
            let slot = Arc::clone(&slot);
            // Two calls: the second, if it finds the layer, takes the
            // common path (an idle record), not the first call's.
            thread::spawn(move || (slot.call(1), slot.call(1)))
        };
        slot.wrap_once("a", |inner| Arc::new(move |x| inner(x) + 1));
        slot.unwrap("a").unwrap();
        let (first, second) = caller.join().unwrap();
        assert!(first == 1 || first == 2, "{first}");
        assert!(second == 1 || second == 2, "{second}");
        assert_eq!(slot.reclaim(), 0);
    });
}

/// A finished call, then the same thread in another slot call that nests
/// one more, after the change: a writer that reads the record while the
/// nested call runs may free the chain the finished call ran, and must
/// then see all that call did with it. (The inner slot keeps a layer of
/// its own, so the nested call goes through the record after the change
/// too.) With a relaxed announcement this model fails at bound 3. The
/// nested call's store is a release store as well; loom cannot tell it
/// from a relaxed one (the fence after a loom announcement is a full one,
/// which makes a later relaxed store carry the release), but the
/// `membarrier` path, whose readers issue only a compiler fence, needs it.
#[test]
fn a_finished_calls_chain_is_freed_only_after_it() {
    model(|| {
        let inner_slot = Arc::new(HookSlot::new("loom::finished_inner", |x: u32| x));
        inner_slot.wrap_once("kept", |inner| Arc::new(move |x| inner(x)));
        inner_slot.wrap_once("a", |inner| Arc::new(move |x| inner(x) + 1));
        let outer_slot = {
            let inner_slot = Arc::clone(&inner_slot);
            Arc::new(HookSlot::new("loom::finished_outer", move |x: u32| {
                inner_slot.call(x) * 10
            }))
        };
        // Announced, so that the inner call in it is a nested one.
        outer_slot.wrap_once("kept", |inner| Arc::new(move |x| inner(x)));
        let caller = {
            let (inner_slot, outer_slot) = (Arc::clone(&inner_slot), Arc::clone(&outer_slot));
            thread::spawn(move || (inner_slot.call(1), outer_slot.call(1)))
        };
        inner_slot.unwrap("a").unwrap();
        let (finished, nested) = caller.join().unwrap();
        assert!(finished == 1 || finished == 2, "{finished}");
        assert!(nested == 10 || nested == 20, "{nested}");
    });
}
