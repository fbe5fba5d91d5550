//! Layers: what each one is (key, where and when it was added, how often it
//! ran), the errors of adding and removing them, and the process-wide list
//! that [`hooks()`] reads.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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

/// Where and when a layer was added, and how often it has been called.
#[derive(Debug)]
pub(crate) struct Layer {
    pub(crate) key: &'static str,
    pub(crate) location: &'static Location<'static>,
    pub(crate) at: SystemTime,
    pub(crate) calls: AtomicU64,
}

impl Layer {
    /// A layer added now at `location`.
    pub(crate) fn new(key: &'static str, location: &'static Location<'static>) -> Layer {
        Layer {
            key,
            location,
            at: SystemTime::now(),
            calls: AtomicU64::new(0),
        }
    }
}

/// A snapshot of one layer of a slot (see [`HookSlot::layers`](crate::hook::HookSlot::layers)).
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
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LayerInfo {
    /// The layer's key.
    pub key: &'static str,
    /// Where it was added (JSON: `"file:line:column"`).
    #[cfg_attr(feature = "serde", serde(serialize_with = "location_text"))]
    pub location: &'static Location<'static>,
    /// When it was added (JSON: `at_unix_ms`, milliseconds since the Unix
    /// epoch).
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "at_unix_ms",
            serialize_with = "crate::clock::serialize_unix_ms"
        )
    )]
    pub at: SystemTime,
    /// Calls that went through this layer.
    pub calls: u64,
}

#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn location_text<S: serde::Serializer>(
    location: &&'static Location<'static>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(location)
}

impl Layer {
    pub(crate) fn info(&self) -> LayerInfo {
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
    pub(crate) slot: &'static str,
    pub(crate) existing: LayerInfo,
    pub(crate) attempted_at: &'static Location<'static>,
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

/// No layer with that key is present (from [`HookSlot::unwrap`](crate::hook::HookSlot::unwrap)).
///
/// ```
/// let slot: instrument_once::hook::HookSlot<u8, u8> = instrument_once::hook::HookSlot::new("codec", |x| x);
/// let err = slot.unwrap("trace").unwrap_err();
/// assert!(err.to_string().contains("no layer `trace`"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotWrapped {
    pub(crate) slot: &'static str,
    pub(crate) key: String,
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

/// Lists layers just added to slot `slot`.
pub(crate) fn listed<'a>(slot: &'static str, added: impl IntoIterator<Item = &'a Arc<Layer>>) {
    let added: Vec<&Arc<Layer>> = added.into_iter().collect();
    if !added.is_empty() {
        all_layers().extend(added.into_iter().map(|l| (slot, Arc::clone(l))));
    }
}

/// Takes removed layers off the list.
pub(crate) fn unlisted<'a>(removed: impl IntoIterator<Item = &'a Arc<Layer>>) {
    let removed: Vec<&Arc<Layer>> = removed.into_iter().collect();
    if !removed.is_empty() {
        all_layers().retain(|(_, l)| !removed.iter().any(|r| Arc::ptr_eq(l, r)));
    }
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
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HookLayer {
    /// The slot's name.
    pub slot: &'static str,
    /// The layer.
    pub layer: LayerInfo,
}

/// Every layer of every live [`HookSlot`](crate::hook::HookSlot), in the order they were added:
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
