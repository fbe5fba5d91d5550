//! Run-time wrap-once: the incident reproduced in Rust, with the naive
//! type-check guard beside it; concurrency; removal; inspection.
#![allow(missing_docs)]

use std::any::Any;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use instrument_once::hook::{hooks, HookFn, HookSlot};

thread_local! {
    /// How many wrapper layers are active on this thread's stack.
    static LAYER_DEPTH: Cell<u32> = const { Cell::new(0) };
    static MAX_LAYER_DEPTH: Cell<u32> = const { Cell::new(0) };
}

fn enter_layer() {
    let d = LAYER_DEPTH.get() + 1;
    LAYER_DEPTH.set(d);
    MAX_LAYER_DEPTH.set(MAX_LAYER_DEPTH.get().max(d));
}

fn leave_layer() {
    LAYER_DEPTH.set(LAYER_DEPTH.get() - 1);
}

/// A database driver with a `register_type` hook.
mod driver {
    use super::{HookSlot, LazyLock};

    pub(crate) static REGISTER_TYPE: LazyLock<HookSlot<u32, u32>> =
        LazyLock::new(|| HookSlot::new("driver::register_type", |oid| oid));

    /// A new connection registers its types through the hook.
    pub(crate) fn connect(oid: u32) -> u32 {
        REGISTER_TYPE.call(oid)
    }
}

/// An integration that re-applies its patch on every new connection.
mod integration {
    use super::{driver, enter_layer, leave_layer, Arc};

    pub(crate) fn patch() {
        driver::REGISTER_TYPE.wrap_once("apm::register_type", |inner| {
            Arc::new(move |oid| {
                enter_layer();
                let r = inner(oid);
                leave_layer();
                r
            })
        });
    }
}

#[test]
fn ten_thousand_connections_leave_exactly_one_layer() {
    for oid in 0..10_000 {
        integration::patch();
        assert_eq!(driver::connect(oid), oid);
    }
    let layers = driver::REGISTER_TYPE.layers();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        MAX_LAYER_DEPTH.get(),
        1,
        "call depth through the hook stays 1"
    );
    assert_eq!(
        layers[0].calls, 10_000,
        "every connection's call counted once"
    );
    assert!(driver::REGISTER_TYPE.is_wrapped("apm::register_type"));
    let listed = hooks();
    assert!(listed
        .iter()
        .any(|h| h.slot == "driver::register_type" && h.layer.key == "apm::register_type"));
}

// ------------------------------------------------------------ the anti-pattern

/// The wrapper type of "version 1" of a wrapping library.
struct WrapperV1(Arc<dyn Fn(u32) -> u32 + Send + Sync>);
/// After the upgrade the wrapper is another type.
struct WrapperV2(Arc<dyn Fn(u32) -> u32 + Send + Sync>);

/// A slot as integrations wrote them by hand: the current value, type-erased.
struct NaiveSlot {
    current: Mutex<Arc<dyn Any + Send + Sync>>,
}

impl NaiveSlot {
    fn call(&self, oid: u32) -> u32 {
        let current = Arc::clone(&self.current.lock().unwrap());
        call_any(&*current, oid)
    }
}

fn call_any(f: &(dyn Any + Send + Sync), oid: u32) -> u32 {
    if let Some(w) = f.downcast_ref::<WrapperV1>() {
        (w.0)(oid)
    } else if let Some(w) = f.downcast_ref::<WrapperV2>() {
        (w.0)(oid)
    } else {
        oid
    }
}

/// The anti-pattern: "already wrapped?" answered by the wrapper's type. The
/// check names the type of version 1, the library now produces version 2.
fn naive_patch(slot: &NaiveSlot) {
    let mut current = slot.current.lock().unwrap();
    if current.is::<WrapperV1>() {
        return; // "already wrapped"
    }
    let inner = Arc::clone(&*current);
    *current = Arc::new(WrapperV2(Arc::new(move |oid| {
        enter_layer();
        let r = call_any(&*inner, oid);
        leave_layer();
        r
    })));
}

#[test]
fn the_naive_type_check_piles_up_layers() {
    let std::thread::Result::Ok(max_depth) = std::thread::spawn(|| {
        let slot = NaiveSlot {
            current: Mutex::new(Arc::new(())),
        };
        for oid in 0..100 {
            naive_patch(&slot);
            slot.call(oid);
        }
        MAX_LAYER_DEPTH.get()
    })
    .join() else {
        panic!("thread failed")
    };
    assert_eq!(
        max_depth, 100,
        "one more layer per connection: the incident"
    );
}

// ------------------------------------------------------------ behaviour

#[test]
fn a_wrapper_gets_the_function_beneath_it_and_unwrap_rebuilds_the_chain() {
    let slot = HookSlot::new("math", |x: u64| x * 2);
    slot.wrap_once("plus_one", |inner| Arc::new(move |x| inner(x) + 1));
    slot.wrap_once("times_ten", |inner| Arc::new(move |x| inner(x) * 10));
    assert_eq!(slot.call(1), 30);
    let err = slot
        .try_wrap("plus_one", |inner| Arc::new(move |x| inner(x) + 100))
        .unwrap_err();
    assert_eq!(err.existing().location.file(), file!());
    assert!(
        err.to_string()
            .contains("hook `math` is already wrapped with key `plus_one`"),
        "{err}"
    );
    assert_eq!(slot.call(1), 30, "a refused layer changes nothing");
    slot.unwrap("plus_one").unwrap();
    assert_eq!(slot.call(1), 20);
    assert!(slot.unwrap("plus_one").is_err());
    slot.unwrap("times_ten").unwrap();
    assert_eq!(slot.call(1), 2);
    assert_eq!((slot.original())(1), 2);
    assert!(
        hooks().iter().all(|h| h.slot != "math"),
        "removed layers leave the listing"
    );
}

#[test]
fn concurrent_wrap_once_with_one_key_makes_one_layer() {
    let slot = Arc::new(HookSlot::new("race", |x: u32| x));
    instrument_once_tests::together(8, |_| {
        for _ in 0..1000 {
            slot.wrap_once("k", |inner: Arc<HookFn<u32, u32>>| {
                Arc::new(move |x| inner(x) + 1)
            });
        }
    });
    assert_eq!(slot.layers().len(), 1);
    assert_eq!(slot.call(1), 2);
}

#[test]
fn calls_during_wrapping_and_unwrapping_see_a_whole_chain() {
    // The original doubles; layer "a" adds 1 beneath layer "b", which
    // multiplies by 10. Valid results for x = 1: 2, 3, 20, 30.
    let slot = Arc::new(HookSlot::new("consistent", |x: u64| x * 2));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (slot, stop, seen) = (Arc::clone(&slot), Arc::clone(&stop), Arc::clone(&seen));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = slot.call(1);
                    assert!(matches!(r, 2 | 3 | 20 | 30), "torn chain: {r}");
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for _ in 0..2_000 {
        slot.wrap_once("a", |inner| Arc::new(move |x| inner(x) + 1));
        slot.wrap_once("b", |inner| Arc::new(move |x| inner(x) * 10));
        slot.unwrap("a").unwrap();
        slot.unwrap("b").unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(seen.load(Ordering::Relaxed) > 0);
}
