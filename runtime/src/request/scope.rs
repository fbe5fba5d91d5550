//! Request scopes: installing a request's tally on the thread that runs it,
//! and handing it to the book when the request ends.
//!
//! A thread's chain (`crate::depth`) holds the tally of the request the
//! thread runs now; every counted call made while it is installed is
//! tallied there (`crate::call`). A sync scope installs a tally for the
//! duration of a closure; an async scope for the duration of each poll of
//! its future, on whatever thread polls it. A scope opened while the thread
//! already runs a request is part of that request: it installs nothing.
//!
//! Tallies are reused: each thread keeps a few, a process-wide pool takes
//! the rest, and a tally is allocated only when both are empty (so at most
//! as many exist as requests ever ran at once). Nothing is allocated per
//! request once warm.

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use super::book;
use crate::depth::{held_chain, this_chain, Chain};
use crate::stats::Tally;

/// Tallies a thread keeps for its next requests.
const KEPT_PER_THREAD: usize = 16;

/// Tallies no thread keeps.
static POOL: Mutex<Vec<&'static Tally>> = Mutex::new(Vec::new());

/// A thread's tallies; given to the pool when the thread exits.
struct Kept(RefCell<Vec<&'static Tally>>);

impl Drop for Kept {
    fn drop(&mut self) {
        let kept = std::mem::take(self.0.get_mut());
        POOL.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(kept);
    }
}

std::thread_local! {
    static KEPT: Kept = const { Kept(RefCell::new(Vec::new())) };
}

/// A tally for a new request: this thread's, the pool's, or a new one.
fn take_tally() -> &'static Tally {
    KEPT.try_with(|kept| kept.0.borrow_mut().pop())
        .ok()
        .flatten()
        .or_else(|| POOL.lock().unwrap_or_else(PoisonError::into_inner).pop())
        .unwrap_or_else(Tally::leak)
}

/// Gives an emptied tally back (to this thread, or the pool).
fn give_tally(tally: &'static Tally) {
    let kept = KEPT
        .try_with(|kept| {
            let mut kept = kept.0.borrow_mut();
            (kept.len() < KEPT_PER_THREAD).then(|| kept.push(tally))
        })
        .ok()
        .flatten();
    if kept.is_none() {
        POOL.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tally);
    }
}

/// Ends a request: its tally goes to the book, emptied, and back to a pool.
fn close(name: &'static str, tally: &'static Tally) {
    book::fold(name, tally);
    give_tally(tally);
}

/// A request running on this thread, opened by [`Open::sync`]: its tally is
/// installed until this is dropped (also when a panic unwinds), then the
/// request ends.
///
/// It does not keep the thread's chain: a chain is touched only by the
/// thread holding it (`crate::depth`'s `HolderOnly`), so the drop finds
/// this thread's chain again, and finds none once the thread's
/// thread-locals are being destroyed (the chain may be another thread's by
/// then; it was cleared when given back). Not `Send`, so it is dropped on
/// the thread that opened it.
pub(crate) struct Open {
    /// `None` when the thread already ran a request (this one is part of
    /// it), or has no chain (its thread-locals are being destroyed).
    running: Option<&'static Tally>,
    name: &'static str,
    _this_thread: PhantomData<*const ()>,
}

impl Open {
    /// Opens a request named `name` on this thread, unless the thread
    /// already runs one.
    pub(crate) fn sync(name: &'static str) -> Open {
        let running = this_chain()
            .filter(|chain| chain.request().is_none())
            .map(|chain| {
                let tally = take_tally();
                chain.set_request(Some(tally));
                tally
            });
        Open {
            running,
            name,
            _this_thread: PhantomData,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(tally) = self.running.take() {
            // Only its own request: never one installed after it.
            if let Some(chain) =
                held_chain().filter(|c| c.request().is_some_and(|r| std::ptr::eq(r, tally)))
            {
                chain.set_request(None);
            }
            close(self.name, tally);
        }
    }
}

// `Open` stays on the thread that opened it: this compiles only if
// `Open: !Send` (two blanket impls make the method ambiguous for a `Send`
// type).
const _: fn() = || {
    trait AmbiguousIfSend<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfSend<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
    let _ = <Open as AmbiguousIfSend<_>>::some_item;
};

pin_project_lite::pin_project! {
    /// A future that runs as one request (see
    /// [`scope_async`](crate::request::scope_async)).
    pub struct Scoped<F> {
        #[pin]
        future: F,
        name: &'static str,
        // The request's tally, from its first poll until it ends.
        tally: Option<&'static Tally>,
        // Polled inside another request: part of it, for good.
        joined: bool,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before it completed: the request ends with what it did.
            let this = this.project();
            if let Some(tally) = this.tally.take() {
                close(this.name, tally);
            }
        }
    }
}

impl<F> Scoped<F> {
    pub(crate) fn new(name: &'static str, future: F) -> Scoped<F> {
        Scoped {
            future,
            name,
            tally: None,
            joined: false,
        }
    }
}

/// Puts back what the thread ran before a poll installed a tally, when the
/// poll ends (also by a panic). Lives inside one poll (not `Send`).
struct Installed {
    chain: &'static Chain,
    before: Option<&'static Tally>,
    _this_thread: PhantomData<*const ()>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        self.chain.set_request(self.before);
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if *this.joined {
            return this.future.poll(cx);
        }
        let Some(chain) = this_chain() else {
            return this.future.poll(cx);
        };
        if this.tally.is_none() && chain.request().is_some() {
            // First polled inside another request: part of it.
            *this.joined = true;
            return this.future.poll(cx);
        }
        let tally = *this.tally.get_or_insert_with(take_tally);
        let poll = {
            // A request started elsewhere and polled from inside another
            // request's code stays its own request meanwhile.
            let _installed = Installed {
                chain,
                before: chain.request(),
                _this_thread: PhantomData,
            };
            chain.set_request(Some(tally));
            this.future.poll(cx)
        };
        if poll.is_ready() {
            if let Some(tally) = this.tally.take() {
                close(this.name, tally);
            }
        }
        poll
    }
}
