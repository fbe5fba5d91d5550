//! An async call: its state from the first poll, and the instrumented
//! future that enters the span and the depth chain at every poll.
#![allow(clippy::inline_always)]

use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use super::reach::{reach, Key, Reach};
use super::{begin_or_panic, end, note_key, try_begin, Begun};
use crate::depth::{Attached, Chain};
use crate::overflow::DepthExceeded;
use crate::site::Site;
use crate::stats::tally::key_hash;
use crate::stats::Outcome;

/// The state of one async call, created at the call's first poll (the
/// preamble of the generated `async` body runs there). Sixteen bytes: what
/// entry decided (its flags, and whether the call is inside a poll) and the
/// clock reading, so an instrumented future is at most 16 bytes larger than
/// `tracing::instrument`'s (`tests/future_size.rs`).
pub struct AsyncCall<K: Key> {
    flags: u32,
    start: u64,
    key: PhantomData<fn() -> K>,
}

impl<K: Key> AsyncCall<K> {
    /// Starts an async call; panics on a `max_depth` overflow.
    #[inline(always)]
    #[must_use]
    #[track_caller]
    pub fn start() -> AsyncCall<K> {
        let (begun, start) = begin_or_panic(reach::<K>(), false);
        AsyncCall::new(begun, start)
    }

    /// Set while the call is inside a poll (a drop then is a panic
    /// unwinding, not a cancellation).
    const POLLING: u32 = 1 << 31;

    #[inline(always)]
    fn new(begun: Begun, start: u64) -> AsyncCall<K> {
        const { assert!(Begun::ALL & AsyncCall::<K>::POLLING == 0) };
        AsyncCall {
            // The call starts inside its first poll: a panic before the
            // body is wrapped (building the span, say) is a panic.
            flags: begun.flags() | begun.request() | AsyncCall::<K>::POLLING,
            start,
            key: PhantomData,
        }
    }

    #[inline(always)]
    fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Starts an async call; `Err` on a `max_depth` overflow.
    ///
    /// # Errors
    ///
    /// [`DepthExceeded`] when the call would exceed `max_depth`.
    #[inline(always)]
    pub fn try_start() -> Result<AsyncCall<K>, DepthExceeded> {
        let (begun, start) = try_begin(reach::<K>(), false)?;
        Ok(AsyncCall::new(begun, start))
    }

    /// Notes the call's key (the `repeats_by` arguments) when the call runs
    /// inside a request (see [`Call::repeats_by`](super::sync::Call::repeats_by)).
    #[inline(always)]
    pub fn repeats_by<T: Hash + ?Sized>(&mut self, key: &T) {
        if self.has(Begun::IN_REQUEST) {
            self.flags |= note_key(reach::<K>().local(), self.flags, key_hash(key));
        }
    }

    /// Whether this call should open a span.
    #[inline]
    pub fn span_wanted(&self) -> bool {
        self.has(Begun::SPAN)
    }

    /// Wraps the body: every poll is on the depth chain and inside `span`,
    /// the body is dropped inside `span` too (as `tracing::Instrument`
    /// does), and `is_err` classifies the output.
    #[inline]
    pub fn instrument<F: Future, C: Fn(&F::Output) -> bool>(
        mut self,
        span: Option<tracing::Span>,
        body: F,
        is_err: C,
    ) -> Instrumented<F, C, K> {
        // Between polls from now on: a drop is a cancellation.
        self.flags &= !AsyncCall::<K>::POLLING;
        Instrumented {
            body: Some(body),
            call: self,
            span: SpanSlot::new(span),
            is_err,
        }
    }
}

impl<K: Key> Drop for AsyncCall<K> {
    #[inline(always)]
    fn drop(&mut self) {
        if K::callee().config.stats && self.has(Begun::COUNTED) {
            // Dropped in the middle of a poll: a panic is unwinding.
            // Otherwise the future was dropped before it completed.
            let outcome = if self.has(AsyncCall::<K>::POLLING) {
                Outcome::Panic
            } else {
                Outcome::Cancelled
            };
            // The poll guard, not the call, leaves the depth chain.
            end(
                reach::<K>(),
                Begun::new(Begun::COUNTED),
                self.start,
                outcome,
            );
        }
    }
}

pin_project_lite::pin_project! {
    /// An instrumented async body (see [`AsyncCall::instrument`]).
    pub struct Instrumented<F, C, K: Key> {
        #[pin]
        body: Option<F>,
        // Before `call`: dropped right after the body, where an absent
        // span is known to be absent (the checks fold). So a cancelled
        // call's span closes before the cancellation is counted, as a sync
        // call's span closes before its guard records the outcome.
        span: SpanSlot,
        call: AsyncCall<K>,
        is_err: C,
    }

    impl<F, C, K: Key> PinnedDrop for Instrumented<F, C, K> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Without a span this is a store (and the body's own drop); the
            // span's case is out of line, so the common case saves no
            // registers.
            if this.span.get().is_none() {
                this.body.set(None);
            } else {
                drop_in_span(this.span, this.body);
            }
        }
    }
}

/// An instrumented future's span, if it has one. It is closed out of line
/// (and the field itself has no drop glue), so an instrumented future
/// without a span drops with no call and no saved register.
struct SpanSlot(ManuallyDrop<Option<tracing::Span>>);

impl SpanSlot {
    #[inline]
    fn new(span: Option<tracing::Span>) -> SpanSlot {
        SpanSlot(ManuallyDrop::new(span))
    }

    #[inline]
    fn get(&self) -> Option<&tracing::Span> {
        self.0.as_ref()
    }

    /// Closes the span, if any, in place, leaving `None` (which the
    /// `ManuallyDrop` never needs to drop).
    #[inline(never)]
    fn close(&mut self) {
        *self.0 = None;
    }
}

impl Drop for SpanSlot {
    #[inline]
    fn drop(&mut self) {
        if self.0.is_some() {
            self.close();
        }
    }
}

/// Drops an instrumented future's body inside its span, then closes the
/// span.
#[inline(never)]
fn drop_in_span<F>(span: &mut SpanSlot, mut body: Pin<&mut Option<F>>) {
    let entered = span.get().map(tracing::Span::enter);
    body.set(None);
    drop(entered);
    *span.0 = None;
}

impl<F: Future, C: Fn(&F::Output) -> bool, K: Key> Future for Instrumented<F, C, K> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let call = this.call;
        // The options are constants here (in an optimised build): what a
        // function's options rule out folds away.
        let config = K::callee().config;
        let _depth = if config.tracks() && call.has(Begun::TRACKED) {
            Some(PollGuard::enter(reach::<K>()))
        } else {
            None
        };
        let _entered = this.span.get().map(tracing::Span::enter);
        let Some(body) = this.body.as_pin_mut() else {
            unreachable!("an instrumented future is polled again after it completed")
        };
        // Only a counted call records anything at a drop: only it needs to
        // know whether the drop is a panic inside a poll.
        let counted = config.stats && call.has(Begun::COUNTED);
        if counted {
            call.flags |= AsyncCall::<K>::POLLING;
        }
        let poll = body.poll(cx);
        if counted {
            call.flags &= !AsyncCall::<K>::POLLING;
        }
        if let Poll::Ready(output) = &poll {
            if counted {
                let is_err = (this.is_err)(output);
                let mut counted = Begun::new(call.flags & (Begun::COUNTED | Begun::TIMED));
                counted.set_request(call.flags & Begun::REQUEST);
                call.flags &= !Begun::COUNTED;
                end(
                    reach::<K>(),
                    counted,
                    call.start,
                    Outcome::of_return(is_err),
                );
            }
        }
        poll
    }
}

/// One poll on the depth chain, left also when the poll panics.
struct PollGuard<R: Reach> {
    /// The chain the poll is on (none while the thread's thread-locals are
    /// being destroyed), with the function's depth and the chain's length
    /// before the poll.
    entered: Option<(&'static Chain, u32, u32)>,
    reach: R,
}

impl<R: Reach> PollGuard<R> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline(never))]
    fn enter(reach: R) -> PollGuard<R> {
        let (site, key) = (reach.site(), reach.local());
        let entered = key
            .try_with(|l| {
                let Attached { chain, .. } = l.attached(site, key)?;
                let depth = l.depth.get();
                l.depth.set(depth.wrapping_add(1));
                // Past the ceiling a poll still runs; the call was counted
                // (or not) at its start.
                let (len_before, _aside) =
                    chain.push(site.ctl.load(Ordering::Relaxed) >> Site::INDEX_SHIFT);
                Some((chain, depth, len_before))
            })
            .flatten();
        PollGuard { entered, reach }
    }
}

impl<R: Reach> Drop for PollGuard<R> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline(never))]
    fn drop(&mut self) {
        if let Some((chain, depth, len_before)) = self.entered {
            let _ = self.reach.local().try_with(|l| l.depth.set(depth));
            chain.restore(len_before);
        }
    }
}
