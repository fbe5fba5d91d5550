//! Stand-ins for the helpers that tracing-attributes' tests import from the
//! tracing repository's `tracing-test` crate, which is not published: the
//! rewritten tests (see `build.rs`) import them from here instead. Written
//! for this project from how the tests use them:
//!
//! * [`block_on_future`] runs a future to completion on the calling thread,
//!   so the test's thread-scoped subscriber sees every poll;
//! * [`PollN`] is a future that is ready at its `n`-th poll (pending, and
//!   waking itself, at the ones before), so an instrumented async function
//!   awaiting it is polled, and enters its span, `n` times.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// Wakes the thread that runs [`block_on_future`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread, parking between polls until
/// it is woken.
///
/// ```
/// assert_eq!(upstream_support::block_on_future(async { 7 }), 7);
/// ```
pub fn block_on_future<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// A future that is ready with its result at its `n`-th poll, and returns
/// `Pending` (after waking its task) at the polls before.
///
/// ```
/// let future = upstream_support::PollN::new_err(3);
/// assert_eq!(upstream_support::block_on_future(future), Err(()));
/// ```
#[derive(Debug)]
pub struct PollN {
    pending_left: usize,
    result: Option<Result<(), ()>>,
}

impl PollN {
    /// `Ok(())` at poll number `polls` (the first when `polls` is 0 or 1).
    pub fn new_ok(polls: usize) -> PollN {
        PollN {
            pending_left: polls.saturating_sub(1),
            result: Some(Ok(())),
        }
    }

    /// `Err(())` at poll number `polls` (the first when `polls` is 0 or 1).
    pub fn new_err(polls: usize) -> PollN {
        PollN {
            pending_left: polls.saturating_sub(1),
            result: Some(Err(())),
        }
    }
}

impl Future for PollN {
    type Output = Result<(), ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.pending_left == 0 {
            Poll::Ready(self.result.take().expect("PollN polled after completion"))
        } else {
            self.pending_left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
