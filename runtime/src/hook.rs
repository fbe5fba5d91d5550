//! Run-time wrap-once for function values: hooks, handlers, callbacks.
//!
//! `#[instrument_once]` covers functions known at compile time. Function
//! values that live in slots and tables at run time — a driver's
//! `register_type` hook, a middleware list, a panic hook — are wrapped at run
//! time, and that is where the incident behind this crate happened: an
//! integration re-applied its wrapper on every new connection, and its
//! "already wrapped?" check looked at the wrapper's *type*, which a library
//! upgrade changed. One more layer per connection followed, until the stack
//! ran out.
//!
//! A [`HookSlot`] answers "already wrapped?" by **key**, from its own list of
//! layers, never from the value's type:
//!
//! * [`HookSlot::wrap_once`] adds a layer only if no layer with that key is
//!   present (otherwise it returns the existing one);
//!   [`HookSlot::try_wrap`] returns [`AlreadyWrapped`] instead, naming who
//!   wrapped it, where and when.
//! * The wrapper is built from the function *beneath it*, captured when the
//!   layer is added; it is never handed the slot, so it cannot call the
//!   slot's current value (itself).
//! * [`HookSlot::unwrap`] removes one layer and rebuilds the chain from the
//!   original; [`HookSlot::original`] and [`HookSlot::is_wrapped`] answer from
//!   the list of layers.
//! * Calls read the current chain without a lock, a reference count or a
//!   thread-local: every chain a slot publishes is appended to the slot's
//!   append-only list and the index of the latest is stored atomically, so a
//!   call is one load, an index into the list, and the dynamic call.
//!   Changes are serialised by a mutex and published whole, so a concurrent
//!   call sees the old chain or the new one, never a mix. A replaced chain
//!   stays in the list until the slot is dropped (it may still be running):
//!   a few dozen bytes per layer per change, for hooks that change a
//!   handful of times.
//! * Every slot is listed by [`hooks()`], with its layers, where each was
//!   added and how often each was called.
//!
//! ```
//! use std::sync::{Arc, LazyLock};
//! use instrument_once::hook::HookSlot;
//!
//! static REGISTER_TYPE: LazyLock<HookSlot<u32, u32>> =
//!     LazyLock::new(|| HookSlot::new("driver::register_type", |oid| oid + 1));
//!
//! // An integration patches the hook on every new connection.
//! fn on_connect() {
//!     REGISTER_TYPE.wrap_once("apm::psycopg", |inner| Arc::new(move |oid| inner(oid) * 10));
//! }
//!
//! for _ in 0..1000 {
//!     on_connect();
//! }
//! assert_eq!(REGISTER_TYPE.layers().len(), 1);
//! assert_eq!(REGISTER_TYPE.call(1), 20);
//! ```

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::SystemTime;

/// The function type a slot holds: what a wrapper receives and returns.
///
/// ```
/// use std::sync::Arc;
/// use instrument_once::hook::HookFn;
/// let f: Arc<HookFn<(u32, u32), u32>> = Arc::new(|(a, b)| a + b);
/// assert_eq!(f((1, 2)), 3);
/// ```
pub type HookFn<A, R> = dyn Fn(A) -> R + Send + Sync;

type Factory<A, R> = Arc<dyn Fn(Arc<HookFn<A, R>>) -> Arc<HookFn<A, R>> + Send + Sync>;

/// Where and when a layer was added, and how often it has been called.
#[derive(Debug)]
struct Layer {
    key: &'static str,
    location: &'static Location<'static>,
    at: SystemTime,
    calls: AtomicU64,
}

/// A snapshot of one layer of a slot (see [`HookSlot::layers`]).
///
/// ```
/// # use std::sync::Arc;
/// let slot: instrument_once::hook::HookSlot<(), ()> = instrument_once::hook::HookSlot::new("s", |()| ());
/// slot.wrap_once("k", |inner| Arc::new(move |a| inner(a)));
/// slot.call(());
/// let layer = &slot.layers()[0];
/// assert_eq!((layer.key, layer.calls), ("k", 1));
/// assert!(layer.location.file().ends_with(".rs"));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct LayerInfo {
    /// The layer's key.
    pub key: &'static str,
    /// Where it was added.
    pub location: &'static Location<'static>,
    /// When it was added.
    pub at: SystemTime,
    /// Calls that went through this layer.
    pub calls: u64,
}

impl Layer {
    fn info(&self) -> LayerInfo {
        LayerInfo {
            key: self.key,
            location: self.location,
            at: self.at,
            calls: self.calls.load(Ordering::Relaxed),
        }
    }
}

/// A second layer with a key already present was refused.
///
/// ```
/// # use std::sync::Arc;
/// let slot: instrument_once::hook::HookSlot<u8, u8> = instrument_once::hook::HookSlot::new("codec", |x| x);
/// slot.try_wrap("trace", |inner| Arc::new(move |x| inner(x))).unwrap();
/// let err = slot.try_wrap("trace", |inner| Arc::new(move |x| inner(x))).unwrap_err();
/// assert_eq!(err.key(), "trace");
/// assert!(err.to_string().contains("already wrapped"));
/// ```
#[derive(Clone, Debug)]
pub struct AlreadyWrapped {
    slot: &'static str,
    existing: LayerInfo,
    attempted_at: &'static Location<'static>,
}

impl AlreadyWrapped {
    /// The key that is already present.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot: instrument_once::hook::HookSlot<u8, u8> = instrument_once::hook::HookSlot::new("codec", |x| x);
    /// slot.wrap_once("trace", |inner| Arc::new(move |x| inner(x)));
    /// let err = slot.try_wrap("trace", |inner| Arc::new(move |x| inner(x))).unwrap_err();
    /// assert_eq!(err.key(), "trace");
    /// ```
    pub fn key(&self) -> &'static str {
        self.existing.key
    }

    /// The layer that holds the key: where and when it was added.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot: instrument_once::hook::HookSlot<u8, u8> = instrument_once::hook::HookSlot::new("codec", |x| x);
    /// slot.try_wrap("trace", |inner| Arc::new(move |x| inner(x))).unwrap();
    /// let err = slot.try_wrap("trace", |inner| Arc::new(move |x| inner(x))).unwrap_err();
    /// assert_eq!(err.existing().location.line(), line!() - 2);
    /// ```
    pub fn existing(&self) -> &LayerInfo {
        &self.existing
    }
}

impl fmt::Display for AlreadyWrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self
            .existing
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        write!(
            f,
            "hook `{}` is already wrapped with key `{}` (added at {}, {} s after the Unix epoch); \
             not wrapping it again at {}. Use `wrap_once` to reuse the existing layer, or \
             `unwrap(\"{}\")` first to replace it",
            self.slot,
            self.existing.key,
            self.existing.location,
            secs,
            self.attempted_at,
            self.existing.key
        )
    }
}

impl std::error::Error for AlreadyWrapped {}

/// No layer with that key is present (from [`HookSlot::unwrap`]).
///
/// ```
/// let slot: instrument_once::hook::HookSlot<u8, u8> = instrument_once::hook::HookSlot::new("codec", |x| x);
/// let err = slot.unwrap("trace").unwrap_err();
/// assert!(err.to_string().contains("no layer `trace`"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotWrapped {
    slot: &'static str,
    key: String,
}

impl fmt::Display for NotWrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hook `{}` has no layer `{}` to remove",
            self.slot, self.key
        )
    }
}

impl std::error::Error for NotWrapped {}

/// Every live layer of every slot, for [`hooks()`].
static LAYERS: Mutex<Vec<(&'static str, Arc<Layer>)>> = Mutex::new(Vec::new());

fn all_layers() -> MutexGuard<'static, Vec<(&'static str, Arc<Layer>)>> {
    LAYERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One layer of one slot, as listed by [`hooks()`].
///
/// ```
/// # use std::sync::Arc;
/// let slot = instrument_once::hook::HookSlot::new("cache::on_miss", |k: u8| k);
/// slot.wrap_once("stats", |inner| Arc::new(move |k| inner(k)));
/// let layer = instrument_once::hook::hooks().into_iter().find(|h| h.slot == "cache::on_miss").unwrap();
/// assert_eq!(layer.layer.key, "stats");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct HookLayer {
    /// The slot's name.
    pub slot: &'static str,
    /// The layer.
    pub layer: LayerInfo,
}

/// Every layer of every live [`HookSlot`], in the order they were added:
/// which hook is wrapped, by whom, where, and how often each layer ran.
///
/// ```
/// # use std::sync::Arc;
/// let slot = instrument_once::hook::HookSlot::new("db::on_row", |n: u32| n);
/// slot.wrap_once("metrics", |inner| Arc::new(move |n| inner(n)));
/// slot.call(1);
/// let listed = instrument_once::hook::hooks();
/// let mine = listed.iter().find(|h| h.slot == "db::on_row").unwrap();
/// assert_eq!((mine.layer.key, mine.layer.calls), ("metrics", 1));
/// ```
pub fn hooks() -> Vec<HookLayer> {
    all_layers()
        .iter()
        .map(|(slot, layer)| HookLayer {
            slot,
            layer: layer.info(),
        })
        .collect()
}

struct Entry<A, R> {
    layer: Arc<Layer>,
    factory: Factory<A, R>,
}

/// Makes the original into a published chain of its own: a `Box` around the
/// original's concrete type, so calling it is one dynamic call.
type Plain<A, R> = Box<dyn Fn() -> Box<HookFn<A, R>> + Send + Sync>;

struct State<A, R> {
    original: Arc<HookFn<A, R>>,
    plain: Plain<A, R>,
    layers: Vec<Entry<A, R>>,
    /// How many chains were published.
    published: usize,
}

/// Chains held inline in the slot: the common life of a hook (the original,
/// then a layer or two) needs no bucket, so a call follows one pointer less.
const INLINE: usize = 8;
/// Buckets of the list of published chains past [`INLINE`]: bucket `b`
/// holds `2^b` chains.
const BUCKETS: usize = usize::BITS as usize;

type Cell<A, R> = OnceLock<Box<HookFn<A, R>>>;
type Bucket<A, R> = OnceLock<Box<[Cell<A, R>]>>;

/// The chains a slot published, oldest first, never moved or removed while
/// the slot lives, so a reader can call one through a plain reference.
struct Published<A: 'static, R: 'static> {
    inline: [Cell<A, R>; INLINE],
    buckets: [Bucket<A, R>; BUCKETS],
    latest: AtomicUsize,
}

/// The bucket and the position in it of chain `INLINE + i`.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    let k = i + 1;
    let bucket = k.ilog2() as usize;
    (bucket, k - (1 << bucket))
}

impl<A: 'static, R: 'static> Published<A, R> {
    fn new(first: Box<HookFn<A, R>>) -> Self {
        let published = Published {
            inline: [const { OnceLock::new() }; INLINE],
            buckets: [const { OnceLock::new() }; BUCKETS],
            latest: AtomicUsize::new(0),
        };
        published.put(0, first);
        published
    }

    /// Stores chain `i` (under the slot's mutex, `i` one past the last).
    fn put(&self, i: usize, chain: Box<HookFn<A, R>>) {
        let cell = match i.checked_sub(INLINE) {
            None => &self.inline[i],
            Some(i) => {
                let (bucket, at) = locate(i);
                &self.buckets[bucket]
                    .get_or_init(|| (0..1usize << bucket).map(|_| OnceLock::new()).collect())[at]
            }
        };
        let _ = cell.set(chain);
    }

    /// The latest chain.
    #[inline]
    fn latest(&self) -> Option<&HookFn<A, R>> {
        let i = self.latest.load(Ordering::Acquire);
        let cell = match self.inline.get(i) {
            Some(cell) => cell,
            None => self.bucketed(i - INLINE)?,
        };
        Some(&**cell.get()?)
    }

    #[cold]
    fn bucketed(&self, i: usize) -> Option<&Cell<A, R>> {
        let (bucket, at) = locate(i);
        self.buckets[bucket].get()?.get(at)
    }
}

/// A slot holding a function value that integrations may wrap, each at most
/// once per key. See the [module documentation](self).
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
    /// Every chain published, and which is current.
    published: Published<A, R>,
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
        let plain: Plain<A, R> = Box::new(move || {
            let f = Arc::clone(&typed);
            Box::new(move |a| f(a))
        });
        HookSlot {
            name,
            published: Published::new(plain()),
            state: Mutex::new(State {
                original,
                plain,
                layers: Vec::new(),
                published: 1,
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
    /// beneath it, down to the original. Lock-free: one atomic load, no
    /// reference count.
    ///
    /// ```
    /// let slot = instrument_once::hook::HookSlot::new("math::double", |x: u32| x * 2);
    /// assert_eq!(slot.call(21), 42);
    /// ```
    #[inline]
    pub fn call(&self, args: A) -> R {
        match self.published.latest() {
            Some(chain) => chain(args),
            None => self.call_locked(args),
        }
    }

    /// The latest chain is always stored before its index is published, so
    /// a call never gets here; if it ever did, it would call the chain
    /// rebuilt under the lock rather than fail.
    #[cold]
    #[inline(never)]
    fn call_locked(&self, args: A) -> R {
        let chain = Self::build(&self.lock());
        chain(args)
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
    /// `wrap` gets the function beneath the new layer, never the slot.
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
    #[track_caller]
    pub fn try_wrap(
        &self,
        key: &'static str,
        wrap: impl Fn(Arc<HookFn<A, R>>) -> Arc<HookFn<A, R>> + Send + Sync + 'static,
    ) -> Result<LayerInfo, AlreadyWrapped> {
        let location = Location::caller();
        let mut state = self.lock();
        if let Some(e) = state.layers.iter().find(|e| e.layer.key == key) {
            return Err(AlreadyWrapped {
                slot: self.name,
                existing: e.layer.info(),
                attempted_at: location,
            });
        }
        let layer = Arc::new(Layer {
            key,
            location,
            at: SystemTime::now(),
            calls: AtomicU64::new(0),
        });
        state.layers.push(Entry {
            layer: Arc::clone(&layer),
            factory: Arc::new(wrap),
        });
        self.publish(&mut state);
        all_layers().push((self.name, Arc::clone(&layer)));
        Ok(layer.info())
    }

    /// Removes the layer with `key` and rebuilds the chain from the original
    /// with the remaining layers, in their order.
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
    pub fn unwrap(&self, key: &str) -> Result<(), NotWrapped> {
        let mut state = self.lock();
        let Some(pos) = state.layers.iter().position(|e| e.layer.key == key) else {
            return Err(NotWrapped {
                slot: self.name,
                key: key.to_owned(),
            });
        };
        let removed = state.layers.remove(pos);
        self.publish(&mut state);
        all_layers().retain(|(_, l)| !Arc::ptr_eq(l, &removed.layer));
        Ok(())
    }

    /// Builds the chain from the original through every layer (each layer's
    /// wrapper counted). Layers get the function beneath them as an `Arc`;
    /// the outermost is boxed, which is what a call goes through.
    fn build(state: &State<A, R>) -> Box<HookFn<A, R>> {
        let Some((outermost, inner)) = state.layers.split_last() else {
            return (state.plain)();
        };
        let mut chain = Arc::clone(&state.original);
        for entry in inner {
            let wrapped = (entry.factory)(chain);
            let layer = Arc::clone(&entry.layer);
            chain = Arc::new(move |a| {
                layer.calls.fetch_add(1, Ordering::Relaxed);
                wrapped(a)
            });
        }
        let wrapped = (outermost.factory)(chain);
        let layer = Arc::clone(&outermost.layer);
        Box::new(move |a| {
            layer.calls.fetch_add(1, Ordering::Relaxed);
            wrapped(a)
        })
    }

    /// Builds the chain, appends it to the published list, and makes it the
    /// current one with one atomic store.
    fn publish(&self, state: &mut State<A, R>) {
        let i = state.published;
        self.published.put(i, Self::build(state));
        self.published.latest.store(i, Ordering::Release);
        state.published = i + 1;
    }

    fn lock(&self) -> MutexGuard<'_, State<A, R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<A: 'static, R: 'static> Drop for HookSlot<A, R> {
    fn drop(&mut self) {
        let state = self.lock();
        all_layers().retain(|(_, l)| !state.layers.iter().any(|e| Arc::ptr_eq(l, &e.layer)));
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

/// Installs a panic hook under `key` at most once: the hook runs `f` with the
/// panic's information, then calls the hook that was installed before it.
/// Installing again with the same key changes nothing, so two libraries (or
/// one library initialised twice) never report a panic twice.
///
/// `std::panic::set_hook` on top of `take_hook()` is the everyday Rust form
/// of the run-time wrapping this module guards: each call adds a layer.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static REPORTED: AtomicUsize = AtomicUsize::new(0);
///
/// for _ in 0..2 {
///     instrument_once::hook::install_panic_hook_once("my_crash_reporter", |_info| {
///         REPORTED.fetch_add(1, Ordering::SeqCst);
///     });
/// }
/// let _ = std::panic::catch_unwind(|| panic!("boom"));
/// assert_eq!(REPORTED.load(Ordering::SeqCst), 1);
/// ```
pub fn install_panic_hook_once(
    key: &'static str,
    f: impl Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync + 'static,
) -> bool {
    static INSTALLED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if installed.contains(&key) {
        return false;
    }
    installed.push(key);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        f(info);
        previous(info);
    }));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_indices() {
        let mut next = (0, 0);
        for i in 0..10_000 {
            let (bucket, at) = locate(i);
            assert_eq!((bucket, at), next, "chain {}", INLINE + i);
            next = if at + 1 == 1 << bucket {
                (bucket + 1, 0)
            } else {
                (bucket, at + 1)
            };
        }
    }

    #[test]
    fn every_published_chain_is_the_latest_in_turn_and_stays_callable() {
        let slot = HookSlot::new("test::chains", |x: u32| x);
        for n in 1..=300u32 {
            // Rebuilding the chain with `n` layers publishes a new chain.
            slot.unwrap("outer").ok();
            slot.wrap_once("outer", move |inner| Arc::new(move |x| inner(x) + n));
            assert_eq!(slot.call(0), n);
        }
        let state = slot.lock();
        assert_eq!(state.published, 1 + 2 * 300 - 1);
        drop(state);
        for i in 0..(1 + 2 * 300 - 1) {
            let cell = match slot.published.inline.get(i) {
                Some(cell) => cell,
                None => slot.published.bucketed(i - INLINE).unwrap(),
            };
            assert!(cell.get().is_some(), "chain {i} was dropped");
        }
    }
}
