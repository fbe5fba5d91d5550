//! A function's thread-local: its depth on this thread's chain, and this
//! thread's chain and counter block, attached together at the thread's
//! first call of the function.

use std::cell::{Cell, RefCell};
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

    /// This thread's chain and block of `site`'s counters; `key` is the
    /// thread-local that holds `self`. `None` once the thread's own
    /// thread-locals are being destroyed: then the call runs without depth
    /// bookkeeping and counts in the site's shared counters.
    #[inline]
    pub(crate) fn attached(
        &self,
        site: &'static Site,
        key: &'static LocalKey<Local>,
    ) -> Option<Attached> {
        match self.attached.get() {
            Some(attached) => Some(attached),
            None => self.attach(site, key),
        }
    }

    #[cold]
    #[inline(never)]
    fn attach(&self, site: &'static Site, key: &'static LocalKey<Local>) -> Option<Attached> {
        OWNED
            .try_with(|owned| {
                let chain = owned.chain_or_take();
                owned.keys.borrow_mut().push(key);
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

/// What a thread holds: its chain, and the thread-locals pointing at it
/// (each also holding a block).
pub(super) struct Owned {
    pub(super) chain: Cell<Option<&'static Chain>>,
    keys: RefCell<Vec<&'static LocalKey<Local>>>,
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
        }
    };
}
