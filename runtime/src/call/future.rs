//! An async call: its state from the first poll, and the instrumented
//! future that enters the span and the depth chain at every poll.
#![allow(clippy::inline_always)]

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use super::{end, overflow_panic, try_begin, Begun, Key};
use crate::depth::{Attached, Chain};
use crate::overflow::DepthExceeded;
use crate::site::Site;
use crate::stats::Outcome;

/// The state of one async call, created at the call's first poll (the
/// preamble of the generated `async` body runs there).
pub struct AsyncCall<K: Key> {
    begun: Begun,
    start: u64,
    polling: bool,
    key: PhantomData<fn() -> K>,
}

impl<K: Key> AsyncCall<K> {
    /// Starts an async call; panics on a `max_depth` overflow.
    #[inline(always)]
    #[must_use]
    #[track_caller]
    pub fn start() -> AsyncCall<K> {
        match AsyncCall::try_start() {
            Ok(call) => call,
            Err(e) => overflow_panic(&e),
        }
    }

    /// Starts an async call; `Err` on a `max_depth` overflow.
    ///
    /// # Errors
    ///
    /// [`DepthExceeded`] when the call would exceed `max_depth`.
    #[inline(always)]
    pub fn try_start() -> Result<AsyncCall<K>, DepthExceeded> {
        let (begun, start) = try_begin::<K>(false)?;
        Ok(AsyncCall {
            begun,
            start,
            // The call starts inside its first poll: a panic before the
            // body is wrapped (building the span, say) is a panic.
            polling: true,
            key: PhantomData,
        })
    }

    /// Whether this call should open a span.
    #[inline]
    pub fn span_wanted(&self) -> bool {
        self.begun.flags() & Begun::SPAN != 0
    }

    /// Whether the call needs [`AsyncCall::instrument`]: something to count or
    /// track, or a span to enter. Otherwise the body is awaited as it is.
    #[inline(always)]
    pub fn needs_run(&self, span: Option<&tracing::Span>) -> bool {
        self.begun.flags() & (Begun::TRACKED | Begun::COUNTED) != 0 || span.is_some()
    }

    /// Wraps the body: every poll is on the depth chain and inside `span`,
    /// the body is dropped inside `span` too (as `tracing::Instrument`
    /// does), and `is_err` classifies the output.
    #[inline]
    pub fn instrument<F: Future, C: FnOnce(&F::Output) -> bool>(
        mut self,
        span: Option<tracing::Span>,
        body: F,
        is_err: C,
    ) -> Instrumented<F, C, K> {
        // Between polls from now on: a drop is a cancellation.
        self.polling = false;
        Instrumented {
            body: Some(body),
            call: self,
            span,
            is_err: Some(is_err),
        }
    }
}

impl<K: Key> Drop for AsyncCall<K> {
    fn drop(&mut self) {
        if self.begun.flags() & Begun::COUNTED != 0 {
            // Dropped in the middle of a poll: a panic is unwinding.
            // Otherwise the future was dropped before it completed.
            let outcome = if self.polling {
                Outcome::Panic
            } else {
                Outcome::Cancelled
            };
            // The poll guard, not the call, leaves the depth chain.
            end::<K>(self.begun.only(Begun::COUNTED), self.start, outcome);
        }
    }
}

pin_project_lite::pin_project! {
    /// An instrumented async body (see [`AsyncCall::instrument`]).
    pub struct Instrumented<F, C, K: Key> {
        #[pin]
        body: Option<F>,
        call: AsyncCall<K>,
        span: Option<tracing::Span>,
        is_err: Option<C>,
    }

    impl<F, C, K: Key> PinnedDrop for Instrumented<F, C, K> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let _entered = this.span.as_ref().map(tracing::Span::enter);
            let mut body = this.body;
            body.set(None);
        }
    }
}

impl<F: Future, C: FnOnce(&F::Output) -> bool, K: Key> Future for Instrumented<F, C, K> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let call = this.call;
        let _depth = (call.begun.flags() & Begun::TRACKED != 0).then(PollGuard::<K>::enter);
        let _entered = this.span.as_ref().map(tracing::Span::enter);
        let Some(body) = this.body.as_pin_mut() else {
            unreachable!("an instrumented future is polled again after it completed")
        };
        call.polling = true;
        let poll = body.poll(cx);
        call.polling = false;
        if let Poll::Ready(output) = &poll {
            if call.begun.flags() & Begun::COUNTED != 0 {
                let is_err = this.is_err.take().is_some_and(|f| f(output));
                let counted = call.begun.only(Begun::COUNTED | Begun::TIMED);
                call.begun.clear(Begun::COUNTED);
                end::<K>(
                    counted,
                    call.start,
                    if is_err { Outcome::Err } else { Outcome::Ok },
                );
            }
        }
        poll
    }
}

/// One poll on the depth chain, left also when the poll panics.
struct PollGuard<K: Key> {
    /// The chain the poll is on (none while the thread's thread-locals are
    /// being destroyed), with the function's depth and the chain's length
    /// before the poll.
    entered: Option<(&'static Chain, u32, u32)>,
    key: PhantomData<fn() -> K>,
}

impl<K: Key> PollGuard<K> {
    #[inline]
    fn enter() -> PollGuard<K> {
        let key = K::local();
        let entered = key
            .try_with(|l| {
                let Attached { chain, .. } = l.attached(K::site(), key)?;
                let depth = l.depth.get();
                l.depth.set(depth.wrapping_add(1));
                // Past the ceiling a poll still runs; the call was counted
                // (or not) at its start.
                let (len_before, _aside) =
                    chain.push(K::site().ctl.load(Ordering::Relaxed) >> Site::INDEX_SHIFT);
                Some((chain, depth, len_before))
            })
            .ok()
            .flatten();
        PollGuard {
            entered,
            key: PhantomData,
        }
    }
}

impl<K: Key> Drop for PollGuard<K> {
    #[inline]
    fn drop(&mut self) {
        if let Some((chain, depth, len_before)) = self.entered {
            let _ = K::local().try_with(|l| l.depth.set(depth));
            chain.restore(len_before);
        }
    }
}
