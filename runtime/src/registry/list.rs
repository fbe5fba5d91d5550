//! The list of sites, and registration: exactly once per site, however
//! many threads make its first call together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use super::switches::{self, Switches};
use crate::site::Site;

/// What the registry lock protects.
pub(crate) struct Inner {
    /// Every registered site, in registration order (its index).
    pub(crate) sites: Vec<&'static Site>,
    /// The directives in force.
    pub(crate) switches: Switches,
}

static INNER: Mutex<Inner> = Mutex::new(Inner {
    sites: Vec::new(),
    switches: Switches::UNREAD,
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
    guard.switches.read_env();
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
        .min(Site::INDEX_MAX);
    inner.sites.push(site);
    let enabled = switches::decide(&inner, site).0;
    let ctl =
        Site::REGISTERED | if enabled { Site::ENABLED } else { 0 } | index << Site::INDEX_SHIFT;
    site.ctl.store(ctl, Ordering::Release);
    ctl
}

/// Whether the link-time list is being walked right now.
pub(crate) fn walking() -> bool {
    WALKING.load(Ordering::Acquire)
}

/// Every site, placed at link time (feature `static-registry`).
// `linkme` declares the slice bounds with link-section attributes that the
// `unsafe_code` lint counts; this one declaration is the crate's exception.
#[cfg(feature = "static-registry")]
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static SITES: [&'static Site];

/// Registers every site of the link-time slice, once.
pub(super) fn register_static_sites() {
    STATIC_SITES.call_once(|| {
        WALKING.store(true, Ordering::Release);
        #[cfg(feature = "static-registry")]
        for site in SITES {
            site.ensure_registered();
        }
        WALKING.store(false, Ordering::Release);
    });
}

/// The sites by registry index (what a thread's chain records).
pub(crate) fn sites_by_index() -> Vec<&'static Site> {
    lock().sites.clone()
}

/// Registration: the `ctl` word's `REGISTERED` bit, set once.
impl Site {
    /// The `ctl` word, registering the site first if needed.
    #[inline]
    pub(crate) fn ensure_registered(&'static self) -> u32 {
        let ctl = self.ctl.load(Ordering::Relaxed);
        if ctl & Site::REGISTERED != 0 {
            ctl
        } else {
            self.register_slow()
        }
    }

    /// Registers the site: runs at its first call or first registry access.
    /// One thread wins the compare-exchange from `0` to `REGISTERING`, the
    /// others wait for it.
    #[cold]
    #[inline(never)]
    fn register_slow(&'static self) -> u32 {
        loop {
            match self.ctl.compare_exchange(
                0,
                Site::REGISTERING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let ctl = insert(self);
                    switches::warn_invalid_once();
                    return ctl;
                }
                Err(current) if current & Site::REGISTERED != 0 => return current,
                // Another thread is registering this site: wait for it. The
                // window is a few instructions under the registry lock.
                Err(_) => std::thread::yield_now(),
            }
        }
    }
}
