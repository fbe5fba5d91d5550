//! A function's thread-local: its depth on this thread's chain, and this
//! thread's chain and counter block, attached together at the thread's
//! first call of the function.
//!
//! A function's [`Local`] lives in one of two places ([`LocalAt`]): in a
//! thread-local the attribute declares for the function (an optimised
//! build, and every async function), reached with one direct thread-local
//! load; or, for a sync function in a build with debug assertions, in this
//! thread's *table*, indexed by the site's registry index. The table costs a
//! lookup per access, which a dev build does not mind; in exchange the
//! function declares no thread-local, which is seven items for the compiler
//! to check in every function (std's `thread_local!` expansion), the
//! largest part of what the attribute added to a dev build's compile time.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::thread::LocalKey;

use super::chain::{give_back, take_chain, Chain};
use crate::site::Site;
use crate::stats::Block;

/// What a function's thread-local points at once attached: this thread's
/// chain, and this thread's block of the function's counters.
#[derive(Clone, Copy)]
pub(crate) struct Attached {
    pub(crate) chain: &'static Chain,
    pub(crate) block: &'static Block,
}

/// The per-function thread-local the attribute declares: how deep the
/// function is on this thread's chain, and this thread's chain and block of
/// the function's counters (attached together at the thread's first call of
/// the function, so one check covers both). It has no destructor, so
/// reaching it is a plain thread-local access that cannot fail; this
/// thread's [`OWNED`] list unhooks it and gives the chain and the block back
/// when the thread exits.
#[doc(hidden)]
pub struct Local {
    pub(crate) depth: Cell<u32>,
    pub(crate) attached: Cell<Option<Attached>>,
}

impl Local {
    /// The initial value (a `const` for `thread_local!`).
    #[must_use]
    pub const fn new() -> Local {
        Local {
            depth: Cell::new(0),
            attached: Cell::new(None),
        }
    }

    /// This thread's chain and block of `site`'s counters; `at` is where
    /// `self` lives. `None` once the thread's own
    /// thread-locals are being destroyed: then the call runs without depth
    /// bookkeeping and counts in the site's shared counters.
    #[inline]
    pub(crate) fn attached(&self, site: &'static Site, at: LocalAt) -> Option<Attached> {
        match self.attached.get() {
            Some(attached) => Some(attached),
            None => self.attach(site, at),
        }
    }

    #[cold]
    #[inline(never)]
    fn attach(&self, site: &'static Site, at: LocalAt) -> Option<Attached> {
        OWNED
            .try_with(|owned| {
                let chain = owned.chain_or_take();
                if let LocalAt::Own(key) = at {
                    owned.keys.borrow_mut().push(key);
                }
                // (A table entry is the thread's own: `Owned`'s drop
                // unhooks every entry.)
                let attached = Attached {
                    chain,
                    block: site.stats.new_block(),
                };
                self.attached.set(Some(attached));
                attached
            })
            .ok()
    }
}

impl Default for Local {
    fn default() -> Local {
        Local::new()
    }
}

/// Where a call finds its function's [`Local`] (see the module docs).
#[derive(Clone, Copy)]
pub(crate) enum LocalAt {
    /// The function's own thread-local, declared by the attribute.
    Own(&'static LocalKey<Local>),
    /// The site's entry in this thread's table.
    Table(&'static Site),
}

impl LocalAt {
    /// Runs `f` on this thread's [`Local`] of the function; `None` once the
    /// thread's thread-locals are being destroyed (then a call runs without
    /// depth bookkeeping and counts in the site's shared counters), and for
    /// a table entry also when the site has no registry index or the table
    /// is being resized by a caller further up this thread's stack.
    #[allow(clippy::inline_always)] // on every call's path: must fold to `Own`'s access
    #[inline(always)]
    pub(crate) fn try_with<R>(self, f: impl FnOnce(&Local) -> R) -> Option<R> {
        match self {
            LocalAt::Own(key) => key.try_with(f).ok(),
            LocalAt::Table(site) => with_table_entry(site, f),
        }
    }
}

/// Runs `f` on `site`'s entry in this thread's table, making the table
/// long enough first.
#[inline(never)]
fn with_table_entry<R>(site: &'static Site, f: impl FnOnce(&Local) -> R) -> Option<R> {
    let ctl = site.ctl.load(Ordering::Acquire);
    let index = ctl >> Site::INDEX_SHIFT;
    // An index is only written with `REGISTERED`; `INDEX_MAX` names no site
    // (past 16.7 million registered sites): such a site has no entry, and
    // its calls in a dev build run untracked (no `max_depth`, counted in
    // the site's shared counters), where an optimised build's own
    // thread-local still tracks them.
    if ctl & Site::REGISTERED == 0 || index == Site::INDEX_MAX {
        return None;
    }
    let index = index as usize;
    OWNED
        .try_with(|owned| {
            // Shared borrows nest: `f` may reach another entry. It never
            // calls user code, so it never makes the table grow, unless an
            // instrumented global allocator is reached from inside it: then
            // the growth below is refused and that call runs untracked.
            {
                let table = owned.table.try_borrow().ok()?;
                if let Some(local) = table.get(index) {
                    return Some(f(local));
                }
            }
            owned
                .table
                .try_borrow_mut()
                .ok()?
                .resize_with(index + 1, Local::new);
            let table = owned.table.try_borrow().ok()?;
            Some(f(&table[index]))
        })
        .ok()
        .flatten()
}

/// What a thread holds: its chain, the thread-locals pointing at it (each
/// also holding a block), and its table of [`Local`]s by site index.
pub(super) struct Owned {
    pub(super) chain: Cell<Option<&'static Chain>>,
    keys: RefCell<Vec<&'static LocalKey<Local>>>,
    table: RefCell<Vec<Local>>,
}

impl Owned {
    /// This thread's chain, taken at its first use.
    fn chain_or_take(&self) -> &'static Chain {
        self.chain.get().unwrap_or_else(|| {
            let chain = take_chain();
            self.chain.set(Some(chain));
            chain
        })
    }
}

/// This thread's chain, taken at its first use; `None` while the thread's
/// thread-locals are being destroyed.
pub(crate) fn this_chain() -> Option<&'static Chain> {
    OWNED.try_with(Owned::chain_or_take).ok()
}

/// This thread's chain if it has taken one (without taking one); `None`
/// also while the thread's thread-locals are being destroyed.
pub(crate) fn held_chain() -> Option<&'static Chain> {
    OWNED.try_with(|owned| owned.chain.get()).ok().flatten()
}

impl Drop for Owned {
    fn drop(&mut self) {
        for key in self.keys.get_mut().drain(..) {
            // A `Local` has no destructor, so it outlives this one: unhook it
            // before another thread can take over its chain and block.
            let _ = key.try_with(|local| {
                local.depth.set(0);
                if let Some(attached) = local.attached.take() {
                    attached.block.release();
                }
            });
        }
        for local in self.table.get_mut().iter() {
            if let Some(attached) = local.attached.take() {
                attached.block.release();
            }
        }
        if let Some(chain) = self.chain.take() {
            give_back(chain);
        }
    }
}

thread_local! {
    /// This thread's chain, and what to give back at thread exit.
    pub(super) static OWNED: Owned = const {
        Owned {
            chain: Cell::new(None),
            keys: RefCell::new(Vec::new()),
            table: RefCell::new(Vec::new()),
        }
    };
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::LocalAt;
    use crate::site::{Config, Meta, Site};

    fn meta(name: &'static str) -> Meta {
        Meta {
            name,
            qualified_name: name,
            module_path: "table_tests",
            target: "table_tests",
            file: file!(),
            line: line!(),
            level: tracing::Level::INFO,
            method: false,
            config: Config {
                max_depth: 0,
                outermost: false,
                timing: false,
                stats: true,
                repeats: false,
            },
        }
    }

    fn leaked_site(name: &'static str) -> &'static Site {
        Box::leak(Box::new(Site::new(meta(name))))
    }

    #[test]
    fn a_site_without_a_registry_index_has_no_table_entry() {
        let site = leaked_site("table_tests::unregistered");
        assert!(LocalAt::Table(site).try_with(|_| ()).is_none());
        site.ensure_registered();
        assert!(LocalAt::Table(site).try_with(|_| ()).is_some());
    }

    #[test]
    fn a_table_entry_keeps_its_state_per_thread() {
        let site = leaked_site("table_tests::kept");
        site.ensure_registered();
        let at = LocalAt::Table(site);
        at.try_with(|local| local.depth.set(5)).unwrap();
        assert_eq!(at.try_with(|local| local.depth.get()), Some(5));
        let elsewhere = std::thread::spawn(move || at.try_with(|local| local.depth.get()))
            .join()
            .unwrap();
        assert_eq!(elsewhere, Some(0), "another thread has its own entry");
    }

    #[test]
    fn growing_the_table_from_inside_an_entry_is_refused_not_a_panic() {
        std::thread::spawn(|| {
            let first = leaked_site("table_tests::first");
            first.ensure_registered();
            let later = leaked_site("table_tests::later");
            later.ensure_registered();
            let inner = LocalAt::Table(first)
                .try_with(|_| {
                    // `later`'s index is past the end of this thread's
                    // table, which is borrowed right now.
                    LocalAt::Table(later).try_with(|_| ())
                })
                .unwrap();
            assert!(inner.is_none());
            // Once the outer access is over, the table grows.
            assert!(LocalAt::Table(later).try_with(|_| ()).is_some());
        })
        .join()
        .unwrap();
    }
}
