//! The global registry: one list of every instrumented function in the binary.
//!
//! # Design
//!
//! The registry is written only on cold paths (a site's first registration, a
//! switch, a reset) and read only by inspection, so it is a plain `Vec` under
//! a `Mutex`. The hot path never touches it: after registration a call reads
//! nothing but its own site's `ctl` word.
//!
//! With the default `static-registry` feature every `#[instrument_once]`
//! function also places a reference to its site in a link-time list, and the
//! first access to [`registry()`] registers all of them, so `sites()` lists
//! functions that were never called (on Linux, macOS and Windows; see the
//! `linkme` crate for the full platform list). Without the feature, or on
//! other platforms, a site appears at its first call.
//!
//! Depth bookkeeping does not go through the registry either: each function
//! has its own thread-local depth counter, declared by the attribute, and a
//! thread's chain records each active call's registry index, which the site
//! keeps in its `ctl` word.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use crate::site::Site;

pub(crate) struct Inner {
    pub(crate) sites: Vec<&'static Site>,
    pub(crate) control: crate::control::State,
}

static INNER: Mutex<Inner> = Mutex::new(Inner {
    sites: Vec::new(),
    control: crate::control::State::UNINIT,
});

static STATIC_SITES: Once = Once::new();
/// Set while the link-time list is walked, when reporting must wait (a
/// subscriber reached from inside the walk could re-enter `registry()`).
static WALKING: AtomicBool = AtomicBool::new(false);

/// The registry lock. Poisoning is ignored: the protected data is only ever
/// mutated by non-panicking code, so it is consistent even after a panic
/// elsewhere.
pub(crate) fn lock() -> MutexGuard<'static, Inner> {
    let mut guard = INNER.lock().unwrap_or_else(PoisonError::into_inner);
    guard.control.init_from_env();
    guard
}

/// Adds a site and publishes its `ctl` word (registered, and on or off as
/// the directives say) while the lock is held: a switch applied by
/// [`crate::control::set`] takes the same lock, so it cannot be overwritten
/// by a registration that decided before it. Returns the published word.
pub(crate) fn insert(site: &'static Site) -> u32 {
    let mut inner = lock();
    let index = u32::try_from(inner.sites.len())
        .unwrap_or(u32::MAX)
        .min(crate::site::INDEX_MAX);
    inner.sites.push(site);
    let enabled = crate::control::decide(&inner, site).0;
    let ctl = crate::site::REGISTERED
        | if enabled { crate::site::ENABLED } else { 0 }
        | index << crate::site::INDEX_SHIFT;
    site.ctl.store(ctl, std::sync::atomic::Ordering::Release);
    ctl
}

/// Whether the link-time list is being walked right now.
pub(crate) fn walking() -> bool {
    WALKING.load(Ordering::Acquire)
}

/// The list of every instrumented function; get it with [`registry()`].
///
/// ```
/// #[instrument_once::instrument_once]
/// fn never_called() {}
///
/// # fn main() {
/// let reg: &'static instrument_once::Registry = instrument_once::registry();
/// let name = concat!(module_path!(), "::never_called");
/// assert!(reg.sites().iter().any(|s| s.qualified_name() == name));
/// # }
/// ```
#[derive(Debug)]
pub struct Registry {
    _private: (),
}

static REGISTRY: Registry = Registry { _private: () };

/// The registry of every instrumented function linked into this binary.
///
/// The first access reads the `INSTRUMENT_ONCE` environment variable (see
/// [`crate::control`]) and, with the default `static-registry` feature,
/// registers every annotated function, called or not.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn load(id: u64) -> u64 { id }
///
/// # fn main() {
/// load(1);
/// for site in instrument_once::registry().sites() {
///     println!("{} at {}:{}: {} calls", site.qualified_name(), site.file(), site.line(), site.stats().calls);
/// }
/// # }
/// ```
pub fn registry() -> &'static Registry {
    STATIC_SITES.call_once(|| {
        WALKING.store(true, Ordering::Release);
        #[cfg(feature = "static-registry")]
        for site in crate::private::SITES {
            site.ensure_registered();
        }
        WALKING.store(false, Ordering::Release);
    });
    crate::control::warn_invalid_once();
    &REGISTRY
}

impl Registry {
    /// Every registered site, sorted by qualified name, then file and line.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn a() {}
    /// # fn main() {
    /// let sites = instrument_once::registry().sites();
    /// assert!(sites.iter().any(|s| s.name() == "a"));
    /// # }
    /// ```
    pub fn sites(&self) -> Vec<&'static Site> {
        let mut sites = lock().sites.clone();
        sites.sort_by_key(|s| (s.qualified_name(), s.file(), s.line()));
        sites
    }

    /// The site with this qualified name (`module::path::fn`, or
    /// `module::path::Type::fn` for methods under an impl-level attribute).
    ///
    /// Two functions can share a qualified name (a function and a method of an
    /// impl block without an impl-level attribute, or functions generated by
    /// a macro). Then `get` returns the one that comes first by file and line;
    /// [`Registry::get_all`] returns all of them.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn load() {}
    /// # fn main() {
    /// let reg = instrument_once::registry();
    /// assert!(reg.get(concat!(module_path!(), "::load")).is_some());
    /// assert!(reg.get("no::such::fn").is_none());
    /// # }
    /// ```
    pub fn get(&self, qualified_name: &str) -> Option<&'static Site> {
        self.get_all(qualified_name).into_iter().next()
    }

    /// Every site with this qualified name, ordered by file and line.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn load() {}
    /// # fn main() {
    /// let all = instrument_once::registry().get_all(concat!(module_path!(), "::load"));
    /// assert_eq!(all.len(), 1);
    /// # }
    /// ```
    pub fn get_all(&self, qualified_name: &str) -> Vec<&'static Site> {
        let mut found: Vec<_> = lock()
            .sites
            .iter()
            .copied()
            .filter(|s| s.qualified_name() == qualified_name)
            .collect();
        found.sort_by_key(|s| (s.file(), s.line()));
        found
    }

    /// Every layer of every live [`crate::hook::HookSlot`], beside the
    /// functions [`Registry::sites`] lists: which hook is wrapped, by whom,
    /// where, and how often each layer ran (see [`crate::hook::hooks`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot = instrument_once::hook::HookSlot::new("db::on_query", |q: u32| q);
    /// slot.wrap_once("apm", |inner| Arc::new(move |q| inner(q)));
    /// let hooks = instrument_once::registry().hooks();
    /// assert!(hooks.iter().any(|h| h.slot == "db::on_query" && h.layer.key == "apm"));
    /// ```
    pub fn hooks(&self) -> Vec<crate::hook::HookLayer> {
        crate::hook::hooks()
    }

    /// Zero the statistics of every site (tests, benchmarks). Calls in flight
    /// at that moment stay counted as in flight, so the snapshot invariants
    /// keep holding across a reset.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn work() {}
    /// # fn main() {
    /// work();
    /// let reg = instrument_once::registry();
    /// reg.reset_stats();
    /// assert_eq!(reg.get(concat!(module_path!(), "::work")).unwrap().stats().calls, 0);
    /// # }
    /// ```
    pub fn reset_stats(&self) {
        for site in self.sites() {
            site.reset_stats();
        }
    }
}
