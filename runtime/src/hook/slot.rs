//! [`HookSlot`]: a function value that integrations wrap, each at most once
//! per key.
//!
//! # Design
//!
//! The slot's *state* (the original, the layers in order, a version) sits
//! behind a mutex that is held only for reads and for the final commit of a
//! change, never while user code runs. A change copies the layers out,
//! builds the new chain with every layer's factory *without* the lock (a
//! factory may call any method of this or any other slot, and may panic),
//! then commits under the lock if nothing changed meanwhile, or builds
//! again. A factory that panics therefore leaves the slot exactly as it
//! was, and the panic reaches the caller; a factory may run more than once
//! when another change races it.
//!
//! The *current chain* is a pointer the commit swaps; a call loads it and
//! runs it, with no lock and no reference count. Without layers it points
//! at the slot's *base* chain (the original alone), which lives as long as
//! the slot: a call that finds it runs the original (boxed in the slot
//! itself) without announcing itself. A replaced chain with layers is
//! retired, tagged with the epoch of [`super::reclaim`], and freed (with the
//! values its layers captured) once no call can still be inside it: at the
//! removal of a layer, every [`RECLAIM_EVERY`] changes, by
//! [`HookSlot::reclaim`] and [`HookSlot::reclaim_within`] (which waits for
//! calls in flight to leave), and when the slot is dropped.
//!
//! The process-wide list of layers ([`super::hooks()`]) is updated in the
//! commit, under the slot's lock, so it always agrees with the slots.

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::layer::{self, AlreadyWrapped, HookFn, Layer, LayerInfo, NotWrapped};
use super::reclaim;
use crate::sync::{lock, sleep, AtomicPtr, Mutex, MutexGuard, Ordering, UnsafeCell};

/// A factory: builds a layer around the function beneath it.
type Factory<A, R> = Arc<dyn Fn(Arc<HookFn<A, R>>) -> Arc<HookFn<A, R>> + Send + Sync>;

/// A chain: what a call runs (the outermost layer as its factory built it,
/// or the original), and that layer's record, whose counter the call
/// bumps itself (a wrapper around the outermost layer would cost the call
/// one more dynamic call; the layers beneath are counted by the wrappers
/// [`build`] puts around them).
struct Chain<A: 'static, R: 'static> {
    /// Owns what [`Chain::run`] calls.
    _run: Arc<HookFn<A, R>>,
    /// The function inside `_run`, found once when the chain is built.
    run_at: Resolved<A, R>,
    /// The outermost layer's record; the base chain's is a record of its
    /// own that nothing lists.
    counted: Arc<Layer>,
}

impl<A: 'static, R: 'static> Chain<A, R> {
    fn new(run: Arc<HookFn<A, R>>, counted: Arc<Layer>) -> Self {
        Chain {
            run_at: Resolved(NonNull::from(&*run)),
            _run: run,
            counted,
        }
    }

    /// The function the chain runs.
    #[inline]
    #[allow(unsafe_code)]
    fn run(&self) -> &HookFn<A, R> {
        // SAFETY: `run_at` points at the value inside `_run`'s allocation,
        // which this chain holds for as long as it lives (and an `Arc`'s
        // value never moves); shared access only, as `Arc` gives.
        unsafe { self.run_at.0.as_ref() }
    }
}

/// The address of the value inside a chain's `Arc<HookFn>`, found when the
/// chain is built: reaching the value through the `Arc` on every call
/// would compute its offset from the closure's alignment each time (four
/// instructions a call, `benches/icount.sh`).
struct Resolved<A: 'static, R: 'static>(NonNull<HookFn<A, R>>);

// SAFETY: a `Resolved` is a shared reference to a `HookFn`, which is `Send
// + Sync`, kept alive by the `Arc` of the chain that holds it.
#[allow(unsafe_code)]
unsafe impl<A, R> Send for Resolved<A, R> {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl<A, R> Sync for Resolved<A, R> {}

/// What a slot publishes: a chain in a cell (loom checks that no call runs
/// it while it is freed), behind a thin pointer so one atomic holds it.
type ChainCell<A, R> = UnsafeCell<Chain<A, R>>;

/// Retired chains pile up to this many before a change frees what it can.
pub(crate) const RECLAIM_EVERY: usize = 16;

/// How often a change is rebuilt because a change made by its own
/// factories committed first, before it gives up (a factory that changes
/// its own slot every time it runs would otherwise never finish). Changes
/// of other threads that commit first do not count: each of them is
/// progress.
const MAX_ATTEMPTS: usize = 64;

/// The longest sleep between two attempts of [`HookSlot::reclaim_within`].
const MAX_PAUSE: Duration = Duration::from_millis(10);

#[cfg(not(loom))]
std::thread_local! {
    /// Changes this thread committed (to any slot): a change whose rebuild
    /// saw this move knows its own factories raced it.
    static COMMITS: Cell<u64> = const { Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    static COMMITS: Cell<u64> = Cell::new(0);
}

fn commits() -> u64 {
    COMMITS.try_with(Cell::get).unwrap_or(0)
}

struct Entry<A, R> {
    layer: Arc<Layer>,
    factory: Factory<A, R>,
}

impl<A, R> Clone for Entry<A, R> {
    fn clone(&self) -> Self {
        Entry {
            layer: Arc::clone(&self.layer),
            factory: Arc::clone(&self.factory),
        }
    }
}

/// A chain that was replaced, and its epoch tag.
struct Retired<A: 'static, R: 'static> {
    tag: u64,
    /// Held to be dropped (freed) when no call can be running it.
    _chain: Published<A, R>,
}

/// A chain handed to the current pointer: owned by the slot, possibly
/// being run by calls on any thread.
struct Published<A: 'static, R: 'static>(NonNull<ChainCell<A, R>>);

// SAFETY: a `Published` is the slot's owning handle to a `Box` of a
// `Chain`, which is `Send + Sync` (`HookFn` and `Layer` are); the pointer
// is only dereferenced shared (by calls) or freed once (by the slot, under
// its lock).
#[allow(unsafe_code)]
unsafe impl<A, R> Send for Published<A, R> {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl<A, R> Sync for Published<A, R> {}

impl<A, R> Published<A, R> {
    fn new(chain: Chain<A, R>) -> Self {
        Published(NonNull::from(Box::leak(Box::new(UnsafeCell::new(chain)))))
    }

    fn as_ptr(&self) -> *mut ChainCell<A, R> {
        self.0.as_ptr()
    }
}

impl<A, R> Drop for Published<A, R> {
    /// Frees the chain. A `Published` is dropped only when no call can
    /// still be running it: it was replaced and `reclaim` said so, or the
    /// slot itself is being dropped (calls borrow the slot).
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `new`, is freed only
        // here, once (a `Published` is never copied), and no call holds it
        // (see above).
        let cell = unsafe { Box::from_raw(self.0.as_ptr()) };
        // The exclusive access loom checks against every call's.
        cell.with_mut(|_| ());
        // Under loom the cell stays allocated, so a call still running the
        // chain fails the model at its closing access instead of reading
        // freed memory.
        #[cfg(loom)]
        Box::leak(cell);
        #[cfg(not(loom))]
        drop(cell);
    }
}

struct State<A: 'static, R: 'static> {
    original: Arc<HookFn<A, R>>,
    layers: Vec<Entry<A, R>>,
    /// Changes committed so far: a change built against an older version
    /// is built again.
    version: u64,
    /// The chain `current` points at, when the slot has layers (without
    /// any, it points at the slot's `base`).
    current: Option<Published<A, R>>,
    retired: Vec<Retired<A, R>>,
}

/// A slot holding a function value that integrations may wrap, each at most
/// once per key. See the [module documentation](crate::hook).
///
/// `A` is the argument (a tuple for several), `R` the result. A slot is
/// typically a `static` behind `LazyLock`.
///
/// ```
/// use std::sync::{Arc, LazyLock};
/// use instrument_once::hook::HookSlot;
///
/// static ON_REQUEST: LazyLock<HookSlot<(&'static str, u16), usize>> =
///     LazyLock::new(|| HookSlot::new("server::on_request", |(path, _port): (&str, u16)| path.len()));
///
/// ON_REQUEST.wrap_once("audit", |inner| Arc::new(move |req| inner(req) + 1));
/// assert_eq!(ON_REQUEST.call(("/health", 80)), 8);
/// ```
pub struct HookSlot<A: 'static, R: 'static> {
    name: &'static str,
    /// The current chain (the state's `current`, or `base`).
    current: AtomicPtr<ChainCell<A, R>>,
    /// The original as a chain of its own: what the slot publishes whenever
    /// it has no layer. It lives as long as the slot, never retired: a call
    /// that finds it current runs `base_fn` without an announcement (and an
    /// announced call whose second load finds it runs it).
    base: Published<A, R>,
    /// The original once more, boxed in the slot itself: a call that finds
    /// `base` current calls this, whose address does not depend on the
    /// load of `current` (the processor reads both at once instead of one
    /// after the other).
    base_fn: Box<HookFn<A, R>>,
    state: Mutex<State<A, R>>,
}

impl<A: 'static, R: 'static> HookSlot<A, R> {
    /// A slot named `name` holding `original`.
    ///
    /// ```
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// assert_eq!(slot.call(4), 8);
    /// ```
    pub fn new(name: &'static str, original: impl Fn(A) -> R + Send + Sync + 'static) -> Self {
        let typed = Arc::new(original);
        let original: Arc<HookFn<A, R>> = Arc::clone(&typed) as Arc<HookFn<A, R>>;
        let base_fn: Box<HookFn<A, R>> = Box::new(move |a| typed(a));
        let base = Published::new(Chain::new(
            Arc::clone(&original),
            Arc::new(Layer::new("", Location::caller())),
        ));
        reclaim::init();
        HookSlot {
            name,
            current: AtomicPtr::new(base.as_ptr()),
            base,
            base_fn,
            state: Mutex::new(State {
                original,
                layers: Vec::new(),
                version: 0,
                current: None,
                retired: Vec::new(),
            }),
        }
    }

    /// The slot's name.
    ///
    /// ```
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// assert_eq!(slot.name(), "math::double");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Calls the current chain: the outermost layer, which calls the one
    /// beneath it, down to the original. No lock and no reference count:
    /// without layers, one atomic load, a compare and the dynamic call;
    /// with layers, this thread's announcement too (two release stores,
    /// plain moves on x86).
    ///
    /// ```
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// assert_eq!(slot.call(21), 42);
    /// ```
    #[inline]
    pub fn call(&self, args: A) -> R {
        if self.current.load(Ordering::Acquire) == self.base.as_ptr() {
            // The base chain's function, held by the slot: nothing to
            // announce, nothing that can be freed meanwhile.
            return (self.base_fn)(args);
        }
        self.call_layered(args)
    }

    /// A call through a chain with layers, which a change may retire while
    /// the call runs it: announced to [`reclaim`] first. The common case
    /// (the thread's outermost slot call, its record taken, and no fence
    /// needed: Linux with `membarrier`) calls nothing before the chain, and
    /// keeps only the record across it (the exit stores a constant); the
    /// rest goes on from what the first look found.
    /// Inlined into [`HookSlot::call`]: since the exit keeps so little, the
    /// registers it saves cost a call without layers 2 Ir and save a call
    /// through one 9 (`benches/icount.sh`: 36 and 62 inlined, 34 and 71
    /// not).
    #[inline]
    fn call_layered(&self, args: A) -> R {
        match reclaim::enter_outermost() {
            Ok(entered) => self.run_current(entered, args),
            Err(found) => self.call_layered_otherwise(found, args),
        }
    }

    /// [`HookSlot::call_layered`] nested in another slot call, on a
    /// thread's first slot call, or while its thread-locals are destroyed:
    /// goes on from what [`reclaim::enter_outermost`] found.
    #[inline(never)]
    fn call_layered_otherwise(&self, found: reclaim::NotOutermost, args: A) -> R {
        self.run_current(reclaim::enter_otherwise(found), args)
    }

    /// Runs the current chain for a call `entered` announced; the call
    /// leaves (`entered` is dropped) after the chain returns or unwinds.
    // Always: each of the two callers gets its own copy, so neither keeps
    // the other's registers.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    #[allow(unsafe_code)]
    fn run_current(&self, entered: reclaim::Entered, args: A) -> R {
        // Loaded after the announcement: the chain loaded before it may
        // have been retired and freed since.
        // SAFETY: `current` always points at a live chain: one is freed only
        // after it was replaced and every call that may have loaded it has
        // left (`reclaim`), and `entered` keeps this call among those until
        // it returns or unwinds.
        let cell = unsafe { &*self.current.load(Ordering::Acquire) };
        // SAFETY: a published chain is never written again, only freed
        // (see above): shared access.
        let result = cell.with(|chain| {
            let chain = unsafe { &*chain };
            chain.counted.calls.fetch_add(1, Ordering::Relaxed);
            chain.run()(args)
        });
        // Loom sees the start of an access only: this marks where the
        // call's use of the chain ends, which must also come before a free.
        #[cfg(loom)]
        cell.with(|_| ());
        drop(entered);
        result
    }

    /// The function the slot was created with, without any layer.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// slot.wrap_once("plus_one", |inner| Arc::new(move |x| inner(x) + 1));
    /// assert_eq!(slot.call(1), 3);
    /// assert_eq!((slot.original())(1), 2);
    /// ```
    pub fn original(&self) -> Arc<HookFn<A, R>> {
        Arc::clone(&self.lock().original)
    }

    /// Whether a layer with this key is present.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// assert!(!slot.is_wrapped("plus_one"));
    /// slot.wrap_once("plus_one", |inner| Arc::new(move |x| inner(x) + 1));
    /// assert!(slot.is_wrapped("plus_one"));
    /// ```
    pub fn is_wrapped(&self, key: &str) -> bool {
        self.lock().layers.iter().any(|e| e.layer.key == key)
    }

    /// The layers, innermost first.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// slot.wrap_once("a", |inner| Arc::new(move |x| inner(x)));
    /// slot.wrap_once("b", |inner| Arc::new(move |x| inner(x)));
    /// let keys: Vec<_> = slot.layers().iter().map(|l| l.key).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    pub fn layers(&self) -> Vec<LayerInfo> {
        self.lock().layers.iter().map(|e| e.layer.info()).collect()
    }

    /// Adds the layer `wrap` builds around the current chain, unless a layer
    /// with `key` is present; either way returns the layer that holds `key`.
    /// `wrap` gets the function beneath the new layer, never the slot. It
    /// runs without the slot's lock (it may call any method of any slot); if
    /// it panics, the slot is left as it was and the panic reaches the
    /// caller.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// for _ in 0..3 {
    ///     slot.wrap_once("plus_one", |inner| Arc::new(move |x| inner(x) + 1));
    /// }
    /// assert_eq!(slot.call(1), 3, "one layer, not three");
    /// ```
    #[track_caller]
    pub fn wrap_once(
        &self,
        key: &'static str,
        wrap: impl Fn(Arc<HookFn<A, R>>) -> Arc<HookFn<A, R>> + Send + Sync + 'static,
    ) -> LayerInfo {
        match self.try_wrap(key, wrap) {
            Ok(layer) => layer,
            Err(e) => e.existing,
        }
    }

    /// Like [`HookSlot::wrap_once`], but a key already present is an error
    /// naming who added it, where and when.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// assert!(slot.try_wrap("k", |inner| Arc::new(move |x| inner(x))).is_ok());
    /// assert!(slot.try_wrap("k", |inner| Arc::new(move |x| inner(x))).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`AlreadyWrapped`] when a layer with `key` is present.
    ///
    /// # Panics
    ///
    /// If a factory panics (the panic is passed on; the slot is unchanged),
    /// or if changes its own factories made committed first on 64 attempts
    /// in a row (a factory that changes its own slot every time it runs).
    /// Changes other threads commit first only make it build again.
    #[track_caller]
    pub fn try_wrap(
        &self,
        key: &'static str,
        wrap: impl Fn(Arc<HookFn<A, R>>) -> Arc<HookFn<A, R>> + Send + Sync + 'static,
    ) -> Result<LayerInfo, AlreadyWrapped> {
        let location = Location::caller();
        let entry = Entry {
            layer: Arc::new(Layer::new(key, location)),
            factory: Arc::new(wrap),
        };
        self.change(|layers| {
            if let Some(e) = layers.iter().find(|e| e.layer.key == key) {
                return Err(AlreadyWrapped {
                    slot: self.name,
                    existing: e.layer.info(),
                    attempted_at: location,
                });
            }
            layers.push(entry.clone());
            Ok(())
        })?;
        Ok(entry.layer.info())
    }

    /// Removes the layer with `key` and rebuilds the chain from the original
    /// with the remaining layers, in their order. What the removed layer
    /// captured is dropped once no call can still be running it: before
    /// this returns when no call through any slot was in flight at the
    /// removal; otherwise at a later change, or by [`HookSlot::reclaim`],
    /// or [`HookSlot::reclaim_within`], which waits for those calls to
    /// leave (call it when the captures hold something that must go now,
    /// such as a connection). A factory that panics while the chain is
    /// rebuilt leaves the slot as it was.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// slot.wrap_once("plus_one", |inner| Arc::new(move |x| inner(x) + 1));
    /// slot.wrap_once("times_ten", |inner| Arc::new(move |x| inner(x) * 10));
    /// assert_eq!(slot.call(1), 30);
    /// slot.unwrap("plus_one").unwrap();
    /// assert_eq!(slot.call(1), 20);
    /// ```
    ///
    /// # Errors
    ///
    /// [`NotWrapped`] when no layer has `key`.
    ///
    /// # Panics
    ///
    /// As [`HookSlot::try_wrap`].
    pub fn unwrap(&self, key: &str) -> Result<(), NotWrapped> {
        self.change(|layers| {
            let Some(pos) = layers.iter().position(|e| e.layer.key == key) else {
                return Err(NotWrapped {
                    slot: self.name,
                    key: key.to_owned(),
                });
            };
            layers.remove(pos);
            Ok(())
        })?;
        // The removed layer's captures go now if no call holds them.
        self.reclaim();
        Ok(())
    }

    /// Frees the replaced chains that no call can still be running, with
    /// what their layers captured; returns how many are still kept (some
    /// call that started before they were replaced has not returned yet).
    /// Changes do this by themselves (every removal, and every
    /// sixteenth change); call it to release a removed layer's captures at
    /// a moment of your choosing, when calls were in flight at its removal.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let held = Arc::new(());
    /// let slot = instrument_once::hook::HookSlot::new("s", |x: u8| x);
    /// let captured = Arc::clone(&held);
    /// slot.wrap_once("k", move |inner| {
    ///     let captured = Arc::clone(&captured);
    ///     Arc::new(move |x| { let _ = &captured; inner(x) })
    /// });
    /// slot.unwrap("k").unwrap();
    /// drop(slot);
    /// assert_eq!(Arc::strong_count(&held), 1);
    /// ```
    pub fn reclaim(&self) -> usize {
        let freeable = reclaim::oldest_in_use();
        let freed: Vec<Retired<A, R>> = {
            let mut state = self.lock();
            let (freed, kept) = std::mem::take(&mut state.retired)
                .into_iter()
                .partition(|r| r.tag < freeable);
            state.retired = kept;
            freed
        };
        let kept = self.lock().retired.len();
        // Outside the lock: dropping the captures runs the user's code. (A
        // capture whose drop panics does not keep the others: the vector
        // drops the rest, and the panic reaches the caller.)
        drop(freed);
        kept
    }

    /// Like [`HookSlot::reclaim`], but waits (sleeping, ever longer, up to
    /// 10 ms at a time) for the calls in flight to leave, until nothing is
    /// kept or `timeout` has passed; returns how many replaced chains are
    /// still kept. It does not wait from inside a call through a slot's
    /// layers (that call itself would keep them); from inside a call of a
    /// slot without layers it waits like anywhere else (that call holds
    /// nothing back).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let pool = Arc::new("connections");
    /// let slot = instrument_once::hook::HookSlot::new("db::query", |q: u32| q);
    /// let held = Arc::clone(&pool);
    /// slot.wrap_once("pool", move |inner| {
    ///     let held = Arc::clone(&held);
    ///     Arc::new(move |q| { let _ = &held; inner(q) })
    /// });
    /// slot.unwrap("pool").unwrap();
    /// assert_eq!(slot.reclaim_within(Duration::from_secs(1)), 0);
    /// assert_eq!(Arc::strong_count(&pool), 1);
    /// ```
    pub fn reclaim_within(&self, timeout: Duration) -> usize {
        let since = Instant::now();
        let mut pause = Duration::from_micros(10);
        loop {
            let kept = self.reclaim();
            if kept == 0 || reclaim::in_call() || since.elapsed() >= timeout {
                return kept;
            }
            sleep(pause.min(timeout.saturating_sub(since.elapsed())));
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Applies `edit` to a copy of the layers, builds the chain they make
    /// (without the lock), and commits both if no other change committed
    /// meanwhile; otherwise starts again. `edit` may refuse the change.
    fn change<E>(
        &self,
        mut edit: impl FnMut(&mut Vec<Entry<A, R>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut raced_by_own = 0;
        loop {
            let (version, mut layers, original) = {
                let state = self.lock();
                (
                    state.version,
                    state.layers.clone(),
                    Arc::clone(&state.original),
                )
            };
            edit(&mut layers)?;
            let own_before = commits();
            let chain = build(&original, &layers);
            let mut state = self.lock();
            if state.version != version {
                drop(state);
                // Never published: no call can hold it.
                drop(chain);
                if commits() != own_before {
                    raced_by_own += 1;
                    assert!(
                        raced_by_own < MAX_ATTEMPTS,
                        "hook `{}`: a change made by its own wrapper factories committed first \
                         on {MAX_ATTEMPTS} attempts in a row; does a wrapper factory change its \
                         own slot every time it runs?",
                        self.name
                    );
                }
                continue;
            }
            // The process-wide list follows the commit, under the lock.
            let added = layers
                .iter()
                .filter(|e| !state.layers.iter().any(|o| Arc::ptr_eq(&o.layer, &e.layer)));
            layer::listed(self.name, added.map(|e| &e.layer));
            layer::unlisted(
                state
                    .layers
                    .iter()
                    .filter(|o| !layers.iter().any(|e| Arc::ptr_eq(&o.layer, &e.layer)))
                    .map(|o| &o.layer),
            );
            let replaced = std::mem::replace(&mut state.current, chain.map(Published::new));
            let published = state
                .current
                .as_ref()
                .map_or(self.base.as_ptr(), Published::as_ptr);
            self.current.store(published, Ordering::Release);
            if let Some(replaced) = replaced {
                state.retired.push(Retired {
                    tag: reclaim::retire(),
                    _chain: replaced,
                });
            }
            let old_layers = std::mem::replace(&mut state.layers, layers);
            state.version += 1;
            let pile = state.retired.len();
            drop(state);
            // Outside the lock: a removed layer's factory may hold values
            // whose drop runs the user's code.
            drop(old_layers);
            let _ = COMMITS.try_with(|c| c.set(c.get() + 1));
            if pile >= RECLAIM_EVERY {
                self.reclaim();
            }
            return Ok(());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<A, R>> {
        lock(&self.state)
    }
}

/// Builds the chain from the original through every layer (each beneath
/// the outermost wrapped in a closure that counts it); `None` without
/// layers (the slot's base is the chain).
/// Layers get the function beneath them as an `Arc`; the outermost is
/// what a call runs, and the call counts it.
fn build<A: 'static, R: 'static>(
    original: &Arc<HookFn<A, R>>,
    layers: &[Entry<A, R>],
) -> Option<Chain<A, R>> {
    let (outermost, inner) = layers.split_last()?;
    let mut chain = Arc::clone(original);
    for entry in inner {
        let wrapped = (entry.factory)(chain);
        let layer = Arc::clone(&entry.layer);
        chain = Arc::new(move |a| {
            layer
                .calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            wrapped(a)
        });
    }
    Some(Chain::new(
        (outermost.factory)(chain),
        Arc::clone(&outermost.layer),
    ))
}

impl<A: 'static, R: 'static> Drop for HookSlot<A, R> {
    fn drop(&mut self) {
        let (retired, layers) = {
            let mut state = self.lock();
            layer::unlisted(state.layers.iter().map(|e| &e.layer));
            (
                std::mem::take(&mut state.retired),
                std::mem::take(&mut state.layers),
            )
        };
        // No call can be running: calls borrow the slot. Outside the lock:
        // dropping the captures runs the user's code. (The current chain
        // goes after these, with the base or with the state.)
        drop(retired);
        drop(layers);
    }
}

impl<A: 'static, R: 'static> fmt::Debug for HookSlot<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookSlot")
            .field("name", &self.name)
            .field("layers", &self.layers())
            .finish_non_exhaustive()
    }
}
