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

use super::reach::{reach, Dyn, Key, Reach};
use super::{begin_or_panic, end, note_key, try_begin, Begun, Enter};
use crate::depth::{Attached, LocalAt};
use crate::overflow::DepthExceeded;
use crate::site::Site;
use crate::stats::tally::key_hash;
use crate::stats::Outcome;

/// Set in an async call's flags when one of its polls unwinds: a drop then
/// is a panic, not a cancellation (see `PanicMark`).
const POLLING: u32 = 1 << 31;
/// Set in an async call's flags when the expressions its span is built
/// from await (see [`AsyncCall::awaits_before_body`]).
const PREAMBLE_AWAITS: u32 = 1 << 30;
const _: () = assert!(Begun::ALL & (POLLING | PREAMBLE_AWAITS) == 0);

/// The state of one async call, created at the call's first poll (the
/// preamble of the generated `async` body runs there). Sixteen bytes: what
/// entry decided (its flags, and whether the span's expressions await) and
/// the clock reading, so an instrumented future is at most 16 bytes larger than
/// `tracing::instrument`'s (`tests/future_size.rs`).
pub struct AsyncCall<K: Key> {
    flags: u32,
    start: u64,
    key: PhantomData<fn() -> K>,
}

impl<K: Key> AsyncCall<K> {
    /// Starts an async call whose span's expressions do not await;
    /// panics on a `max_depth` overflow.
    ///
    /// On an empty chain (a task polled by its executor) the call enters
    /// the depth chain at once, as a sync call does, and stays on it until
    /// its first poll returns (`Begun::FIRST_FRAME`): its start and that
    /// poll run in one poll of the function's future, on one thread, with
    /// nothing awaited between them. So the first poll, the only one of
    /// most calls, does not enter the chain a second time (and the span's
    /// expressions run on the chain, as a sync call's do). On a chain that
    /// holds calls, each poll enters it.
    #[inline(always)]
    #[must_use]
    #[track_caller]
    pub fn start() -> AsyncCall<K> {
        let (begun, start) = begin_or_panic(reach::<K>(), Enter::AsyncFirstPoll);
        AsyncCall::new(begun, start)
    }

    /// Starts an async call whose span's expressions may await (see
    /// [`AsyncCall::start`]); panics on a `max_depth` overflow.
    ///
    /// Such a call enters the chain at each poll only: the task may leave
    /// the thread at that await. A drop before its body is wrapped then
    /// counts a cancellation (see the `Drop` impl).
    #[inline(always)]
    #[must_use]
    #[track_caller]
    pub fn start_awaiting() -> AsyncCall<K> {
        let (begun, start) = begin_or_panic(reach::<K>(), Enter::AsyncPolls);
        AsyncCall::new(begun, start).awaits_before_body()
    }

    #[inline(always)]
    fn new(begun: Begun, start: u64) -> AsyncCall<K> {
        AsyncCall {
            // (The request bits are among the flags: see `begin`.)
            flags: begun.flags(),
            start,
            key: PhantomData,
        }
    }

    #[inline(always)]
    fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Starts an async call whose span's expressions do not await (see
    /// [`AsyncCall::start`]); `Err` on a `max_depth` overflow.
    ///
    /// # Errors
    ///
    /// [`DepthExceeded`] when the call would exceed `max_depth`.
    #[inline(always)]
    pub fn try_start() -> Result<AsyncCall<K>, DepthExceeded> {
        let (begun, start) = try_begin(reach::<K>(), Enter::AsyncFirstPoll)?;
        Ok(AsyncCall::new(begun, start))
    }

    /// Starts an async call whose span's expressions may await (see
    /// [`AsyncCall::start_awaiting`]); `Err` on a `max_depth` overflow.
    ///
    /// # Errors
    ///
    /// [`DepthExceeded`] when the call would exceed `max_depth`.
    #[inline(always)]
    pub fn try_start_awaiting() -> Result<AsyncCall<K>, DepthExceeded> {
        let (begun, start) = try_begin(reach::<K>(), Enter::AsyncPolls)?;
        Ok(AsyncCall::new(begun, start).awaits_before_body())
    }

    /// Notes that the expressions the call's span is built from await, so
    /// the call can be dropped before its body is wrapped without a panic:
    /// such a drop is then a cancellation. (Without it, such a drop can
    /// only be an early return, `?` in a field, and counts as a return.)
    #[inline(always)]
    fn awaits_before_body(mut self) -> AsyncCall<K> {
        self.flags |= PREAMBLE_AWAITS;
        self
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

    /// Wraps the body: every poll is on the depth chain and inside `span`
    /// (when the slot holds one), the body is dropped inside `span` too (as
    /// `tracing::Instrument` does), and `is_err` classifies the output.
    #[inline]
    pub fn instrument<F: Future, C: Fn(&F::Output) -> bool>(
        self,
        span: Spanned,
        body: F,
        is_err: C,
    ) -> Instrumented<F, C, K, Spanned> {
        self.wrap(span, body, is_err)
    }

    /// Wraps the body of a call without a span (see
    /// [`AsyncCall::instrument`]). In an optimised build the attribute
    /// awaits this future or the spanned one: the function's future tells
    /// them apart by its state, so a call without a span stores, tests and
    /// drops none.
    #[inline]
    pub fn instrument_unspanned<F: Future, C: Fn(&F::Output) -> bool>(
        self,
        body: F,
        is_err: C,
    ) -> Instrumented<F, C, K, Unspanned> {
        self.wrap(Unspanned, body, is_err)
    }

    #[inline(always)]
    fn wrap<F, C, S: SpanSlot>(self, span: S, body: F, is_err: C) -> Instrumented<F, C, K, S> {
        // The instrumented future records what a drop of the call would
        // from now on (see its `PinnedDrop`).
        let this = ManuallyDrop::new(self);
        Instrumented {
            body: ManuallyDrop::new(body),
            // Between polls from now on: a drop is a cancellation.
            call: Polled {
                flags: this.flags,
                start: this.start,
                key: PhantomData,
            },
            span,
            is_err,
        }
    }
}

impl<K: Key> Drop for AsyncCall<K> {
    #[inline(always)]
    fn drop(&mut self) {
        // Dropped before its body was wrapped: a panic as the span was
        // built (a field's expression, say); where the span's expressions
        // may await, a cancellation at that await (an early return there
        // cannot be told from one, and counts as one too); otherwise an
        // early return (`?` in a field), counted as a return, as a sync
        // call's is.
        // Once wrapped, the instrumented future records what a drop must.
        // The first poll's frame, entered at the start, is left here too.
        if unfinished::<K>(self.flags) {
            let outcome = if std::thread::panicking() {
                Outcome::Panic
            } else if self.has(PREAMBLE_AWAITS) {
                Outcome::Cancelled
            } else {
                Outcome::Ok
            };
            // A return is timed (and its repeat time added to its
            // request), as a sync call's early return is.
            unfinished_async(
                K::callee().site,
                LocalAt::Own(K::local()),
                unfinished_exit(self.flags),
                self.start,
                outcome,
            );
        }
    }
}

/// What a counted async call's exit passes to [`end`], from its flags: counted,
/// timed if it was, and its request bits. (A poll's frame is left by the
/// poll; `end` times only a return.)
#[inline(always)]
fn finishing(flags: u32) -> Begun {
    let mut begun = Begun::new(flags & (Begun::COUNTED | Begun::TIMED));
    begun.set_request(flags & Begun::REQUEST);
    begun
}

/// Whether a drop of an async call with these flags must record something:
/// the call was counted and has not completed, or it still holds its first
/// poll's frame (it was never polled).
#[inline(always)]
fn unfinished<K: Key>(flags: u32) -> bool {
    let config = K::callee().config;
    (config.stats && flags & Begun::COUNTED != 0)
        || (config.tracks() && flags & Begun::FIRST_FRAME != 0)
}

/// What a drop of an async call that did not complete passes to [`end`]:
/// [`finishing`], with the first poll's frame when the call still holds it
/// (dropped before its first poll).
#[inline(always)]
fn unfinished_exit(flags: u32) -> Begun {
    let finished = finishing(flags);
    if flags & Begun::FIRST_FRAME != 0 {
        Begun::FIRST_POLL.with(finished)
    } else {
        finished
    }
}

/// Counts an async call dropped before it completed, with `outcome` (timed
/// when `begun` says so and the outcome is a return). Not generic: compiled
/// once, in this crate.
#[cold]
#[inline(never)]
fn unfinished_async(
    site: &'static Site,
    local: LocalAt,
    begun: Begun,
    start: u64,
    outcome: Outcome,
) {
    end(Dyn::new(site, local), begun, start, outcome);
}

/// An async call's state inside its instrumented future: an
/// [`AsyncCall`]'s, without drop glue of its own (the future's drop records
/// what a drop of the call must).
struct Polled<K: Key> {
    flags: u32,
    start: u64,
    key: PhantomData<fn() -> K>,
}

impl<K: Key> Polled<K> {
    #[inline(always)]
    fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether a drop now must record something (see [`unfinished`]).
    #[inline(always)]
    fn unfinished(&self) -> bool {
        unfinished::<K>(self.flags)
    }
}

pin_project_lite::pin_project! {
    /// An instrumented async body (see [`AsyncCall::instrument`]), with
    /// its span, if any, in `S` ([`Spanned`] or [`Unspanned`]).
    pub struct Instrumented<F, C, K: Key, S: SpanSlot> {
        #[pin]
        body: ManuallyDrop<F>,
        span: S,
        call: Polled<K>,
        is_err: C,
    }

    impl<F, C, K: Key, S: SpanSlot> PinnedDrop for Instrumented<F, C, K, S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // The common case (no span, and the call completed or was not
            // counted) is one test and the body's own drop, inline; the
            // rest is out of line, so it saves no registers.
            if this.span.get().is_none() && !this.call.unfinished() {
                // SAFETY: the future's drop, on this branch alone.
                #[allow(unsafe_code)]
                unsafe { drop_body(this.body) };
            } else {
                drop_slow(this.span, this.body, this.call);
            }
        }
    }
}

/// Drops an instrumented future that has a span or a counted call that did
/// not complete: drops the body inside the span, closes the span, then
/// counts the call as cancelled (or as a panic, dropped while a poll
/// unwinds). So a cancelled call's span closes before the cancellation is
/// counted, as a sync call's span closes before its guard records the
/// outcome. Each step is a guard of its own: a subscriber that panics as
/// the span is entered still has the body dropped (outside the span), a
/// body whose drop panics still has its span closed and its call counted,
/// and a subscriber that panics as the span closes still has the call
/// counted.
#[inline(never)]
fn drop_slow<F, K: Key, S: SpanSlot>(
    span: &mut S,
    body: Pin<&mut ManuallyDrop<F>>,
    call: &Polled<K>,
) {
    struct Count<'a, K: Key>(&'a Polled<K>);
    impl<K: Key> Drop for Count<'_, K> {
        fn drop(&mut self) {
            if self.0.unfinished() {
                // Dropped as its own poll unwinds: a panic; otherwise
                // between polls: a cancellation.
                let outcome = if self.0.has(POLLING) {
                    Outcome::Panic
                } else {
                    Outcome::Cancelled
                };
                unfinished_async(
                    K::callee().site,
                    LocalAt::Own(K::local()),
                    unfinished_exit(self.0.flags),
                    self.0.start,
                    outcome,
                );
            }
        }
    }
    struct Close<'a, S: SpanSlot>(&'a mut S);
    impl<S: SpanSlot> Drop for Close<'_, S> {
        fn drop(&mut self) {
            self.0.close();
        }
    }
    struct DropBody<'a, F>(Pin<&'a mut ManuallyDrop<F>>);
    impl<F> Drop for DropBody<'_, F> {
        fn drop(&mut self) {
            // SAFETY: the future's drop (`drop_slow` is its other branch),
            // and this guard is its one drop of the body.
            #[allow(unsafe_code)]
            unsafe {
                drop_body(self.0.as_mut());
            }
        }
    }
    // Dropped in the reverse order: the body (inside the span when it
    // could be entered), the span closes, then the call counts. The body's
    // guard comes before the span's entry, which runs the subscriber: a
    // body left undropped when its memory goes would break the pin promise.
    let count = Count(call);
    let close = Close(span);
    let body = DropBody(body);
    let entered = close.0.get().map(tracing::Span::enter);
    drop(body);
    drop(entered);
    drop(close);
    drop(count);
}

/// The body, pinned, from its pinned slot.
///
/// # Safety
///
/// The body must be dropped in place before the slot's memory is freed or
/// reused, on every path (the pin promise): the instrumented future's drop
/// does so on both its branches, with a guard on the one that runs a
/// subscriber first (`drop_slow`).
#[inline(always)]
#[allow(unsafe_code)]
unsafe fn pin_body<F>(slot: Pin<&mut ManuallyDrop<F>>) -> Pin<&mut F> {
    // SAFETY: `ManuallyDrop<F>` is a transparent wrapper, never moved out
    // of: the body is pinned wherever its slot is, and the caller's contract
    // keeps the drop half of the promise.
    unsafe { slot.map_unchecked_mut(|body| &mut **body) }
}

/// Drops the body in place. (The body is a `ManuallyDrop`, not an
/// `Option` set to `None`: no discriminant to test at every poll, to store
/// at the start and at the drop, or to hold in the future.)
///
/// # Safety
///
/// Only from the instrumented future's drop, once: nothing may reach the
/// body afterwards.
#[inline(always)]
#[allow(unsafe_code)]
unsafe fn drop_body<F>(slot: Pin<&mut ManuallyDrop<F>>) {
    // SAFETY: dropped in place, so the pin promise holds (the body is
    // never moved); once, and never used again (the caller's contract).
    unsafe { ManuallyDrop::drop(slot.get_unchecked_mut()) }
}

/// Where an instrumented future keeps its span: [`Spanned`] or
/// [`Unspanned`]. Neither has drop glue: the future's drop closes a span
/// (out of line), so an instrumented future without one drops with no call
/// and no saved register.
pub trait SpanSlot: sealed::Sealed {
    /// The span, while open.
    fn get(&self) -> Option<&tracing::Span>;
    /// Closes the span, if open, in place.
    fn close(&mut self);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Spanned {}
    impl Sealed for super::Unspanned {}
}

/// A call's span, until the future's drop closes it; empty only in a build
/// with debug assertions, where one future type serves calls with a span
/// and without ([`Spanned::or_empty`]).
///
/// It has no drop glue, so the attribute's `Option<Spanned>` is not kept in
/// the function's future beside the instrumented body: nothing is left to
/// drop after the `match` that moves it into the body's wrapper. (Nothing
/// between [`some_span`] and that `match` can unwind or return, so the span
/// is never left unclosed.)
pub struct Spanned(ManuallyDrop<Option<tracing::Span>>);

/// The span to wrap a call's body in: `None` when it is disabled.
#[inline]
pub fn some_span(span: tracing::Span) -> Option<Spanned> {
    if span.is_disabled() {
        None
    } else {
        Some(Spanned(ManuallyDrop::new(Some(span))))
    }
}

impl Spanned {
    /// The span, or an empty slot (a build with debug assertions).
    #[inline]
    pub fn or_empty(span: Option<Spanned>) -> Spanned {
        span.unwrap_or(Spanned(ManuallyDrop::new(None)))
    }
}

impl SpanSlot for Spanned {
    #[inline]
    fn get(&self) -> Option<&tracing::Span> {
        self.0.as_ref()
    }

    /// Leaves `None` (which the `ManuallyDrop` never needs to drop).
    #[inline]
    fn close(&mut self) {
        *self.0 = None;
    }
}

/// No span: nothing stored, nothing to enter or close.
pub struct Unspanned;

impl SpanSlot for Unspanned {
    #[inline(always)]
    fn get(&self) -> Option<&tracing::Span> {
        None
    }

    #[inline(always)]
    fn close(&mut self) {}
}

impl<F: Future, C: Fn(&F::Output) -> bool, K: Key, S: SpanSlot> Future
    for Instrumented<F, C, K, S>
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let call = this.call;
        // The options are constants here (in an optimised build): what a
        // function's options rule out folds away.
        let config = K::callee().config;
        let depth = if config.tracks() && call.has(Begun::FIRST_FRAME) {
            // The start entered this poll's frame (see `AsyncCall::start`).
            call.flags &= !Begun::FIRST_FRAME;
            PollGuard {
                frame: Begun::FIRST_POLL,
                reach: reach::<K>(),
            }
        } else if config.tracks() && call.has(Begun::TRACKED | Begun::COUNTED) {
            // A call on the chain; or counted but started off it (while
            // the thread-locals of the thread it started on were being
            // destroyed): polled where the chain can be reached, it enters.
            PollGuard::enter(reach::<K>())
        } else if config.tracks() {
            PollGuard::off_chain(reach::<K>())
        } else {
            PollGuard::none(reach::<K>())
        };
        let _entered = this.span.get().map(tracing::Span::enter);
        // SAFETY: the instrumented future's drop drops the body in place
        // on every path (see its `PinnedDrop` and `drop_slow`).
        #[allow(unsafe_code)]
        let body = unsafe { pin_body(this.body) };
        // Whether a drop is a panic inside a poll matters only to a counted
        // call, but the mark is armed for any: it is set only if the body's
        // poll unwinds (a landing pad: a poll that returns costs nothing).
        // A subscriber that panics as the span is entered or exited is not
        // covered: arming the mark around the span's entry too cost 6 Ir a
        // call (`benches/icount.sh`), and the call is then counted as
        // cancelled, never lost.
        let counted = config.stats && call.has(Begun::COUNTED);
        let unwinding = PanicMark(&mut call.flags);
        let poll = body.poll(cx);
        std::mem::forget(unwinding);
        let mut finished = Begun::OFF;
        let mut outcome = Outcome::Ok;
        if let Poll::Ready(output) = &poll {
            if counted {
                outcome = Outcome::of_return((this.is_err)(output));
                finished = finishing(call.flags);
                call.flags &= !Begun::COUNTED;
            }
        }
        // The poll leaves the depth chain, and a call that completed is
        // counted, in one visit to the thread-local, before the span exits
        // (as a sync call leaves the chain before its span closes).
        depth.leave(finished, call.start, outcome);
        poll
    }
}

/// Marks an async call as inside a poll when the poll unwinds: then a drop
/// of the call is a panic, not a cancellation. Forgotten when the poll
/// returns.
struct PanicMark<'a>(&'a mut u32);

impl Drop for PanicMark<'_> {
    #[cold]
    fn drop(&mut self) {
        *self.0 |= POLLING;
    }
}

/// One poll on the depth chain, left also when the poll panics. Its frame
/// is what [`end`] restores: [`Begun::TRACKED`] with the function's depth
/// and the chain's length before the poll ([`Begun::OFF_CHAIN`] for a
/// poll that stays off the chain, [`Begun::OFF`] for a function that is
/// not tracked). A poll while the thread's thread-locals are being
/// destroyed finds no chain: `end` then finds none either, and restores
/// nothing.
struct PollGuard<R: Reach> {
    frame: Begun,
    reach: R,
}

impl<R: Reach> PollGuard<R> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline(never))]
    fn enter(reach: R) -> PollGuard<R> {
        let (site, key) = (reach.site(), reach.local());
        // The closure fills `frame` in place (as `begin` does). Always
        // `TRACKED`, so that a poll's exit tests no flag of its frame.
        let mut frame = Begun::new(Begun::TRACKED);
        key.try_with(|l| {
            let Some(Attached { chain, .. }) = l.attached(site, key) else {
                return;
            };
            let index = site.ctl.load(Ordering::Relaxed) >> Site::INDEX_SHIFT;
            // As a sync call's entry does: on an empty chain (a task's
            // poll straight from its executor, the common case) the
            // depth is 0 without reading it, so entry and exit store
            // constants and consecutive polls do not wait on each
            // other's stores.
            if chain.len() == 0 {
                debug_assert_eq!(l.depth.get(), 0, "depth without a chain");
                l.depth.set(1);
                chain.push_first(index);
                return;
            }
            let depth = l.depth.get();
            l.depth.set(depth.wrapping_add(1));
            // Past the ceiling a poll still runs; the call was counted
            // (or not) at its start.
            let (len_before, _aside) = chain.push(index);
            frame.save(depth, len_before);
        });
        PollGuard { frame, reach }
    }

    /// A poll that does not enter the chain, of a call that is not on it
    /// and not counted (its function was switched off at its start):
    /// nothing to leave or count, and no visit to the thread-local
    /// ([`Begun::OFF_CHAIN`]).
    #[inline(always)]
    fn off_chain(reach: R) -> PollGuard<R> {
        PollGuard {
            frame: Begun::OFF_CHAIN,
            reach,
        }
    }

    /// A poll of a function that is not tracked: nothing to leave.
    #[inline(always)]
    fn none(reach: R) -> PollGuard<R> {
        PollGuard {
            frame: Begun::OFF,
            reach,
        }
    }

    /// Leaves the chain after a poll that returned and, in the same visit
    /// to the thread-local, counts a call that `finished` there (its
    /// flags: [`Begun::OFF`] when none did).
    #[inline(always)]
    fn leave(self, finished: Begun, start: u64, outcome: Outcome) {
        let this = std::mem::ManuallyDrop::new(self);
        // A call off the chain is not counted (see `off_chain`).
        if !this.frame.is_off_chain() {
            end(this.reach, this.frame.with(finished), start, outcome);
        }
    }
}

impl<R: Reach> Drop for PollGuard<R> {
    /// Leaves the chain as the poll unwinds (the frame is not counted).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline(never))]
    fn drop(&mut self) {
        if !self.frame.is_off_chain() {
            end(self.reach, self.frame, 0, Outcome::Panic);
        }
    }
}

/// Where an async call's start leaves the depth chain, through the guards
/// the attribute drives (the attribute itself wraps and polls the body at
/// once; these tests also stop in between).
// The link-time list's entry of an instrumented function counts as
// `unsafe_code` inside this crate.
#[cfg(all(test, not(loom)))]
#[allow(unsafe_code)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use super::AsyncCall;
    use crate::current_chain;
    use crate::site::{Config, Meta, Site};

    /// The options of a site of these tests (untimed).
    const fn config(max_depth: u32, stats: bool) -> Config {
        Config {
            max_depth,
            outermost: false,
            timing: false,
            stats,
            repeats: false,
        }
    }

    /// A site of these tests, declared by hand as the attribute declares
    /// one (its key drives `AsyncCall` directly).
    const fn site(name: &'static str, config: Config) -> Site {
        Site::new(Meta {
            name,
            qualified_name: name,
            module_path: "future_tests",
            target: "future_tests",
            file: file!(),
            line: line!(),
            level: tracing::Level::INFO,
            method: false,
            config,
        })
    }

    const COUNTED: Config = config(0, true);
    static SITE: Site = site("future_tests::started", COUNTED);
    crate::__io_declare_key!(SITE, COUNTED);

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// The chain's length, seen from inside a poll.
    async fn chain_len() -> usize {
        current_chain().len()
    }

    fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
        let waker = Waker::from(Arc::new(Noop));
        pin!(fut).poll(&mut Context::from_waker(&waker))
    }

    /// The calls of `SITE` as (calls, ok, cancelled, in flight), counted
    /// while `f` runs on a thread of its own (tests run side by side, and
    /// take turns at `SITE`).
    fn counted_on_a_thread(f: impl FnOnce() + Send + 'static) -> (u64, u64, u64, u64) {
        let _turn = TURN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = SITE.stats();
        std::thread::spawn(f).join().unwrap();
        let s = SITE.stats();
        (
            s.calls - before.calls,
            s.ok - before.ok,
            s.cancelled - before.cancelled,
            s.in_flight,
        )
    }

    #[test]
    fn a_call_dropped_between_its_start_and_its_first_poll_leaves_the_frame_its_start_entered() {
        let counted = counted_on_a_thread(|| {
            let call = AsyncCall::<__IoKey>::start();
            assert_eq!(current_chain().len(), 1, "the start entered an empty chain");
            drop(call.instrument_unspanned(chain_len(), |_| false));
            assert!(current_chain().is_empty());
        });
        assert_eq!(counted, (1, 0, 1, 0));
    }

    #[test]
    fn a_call_started_on_a_chain_that_holds_calls_enters_it_at_each_poll() {
        let counted = counted_on_a_thread(|| {
            let outer = AsyncCall::<__IoKey>::start();
            let inner = AsyncCall::<__IoKey>::start();
            assert_eq!(current_chain().len(), 1, "only the first start entered");
            let seen = poll_once(inner.instrument_unspanned(chain_len(), |_| false));
            assert_eq!(seen, Poll::Ready(2), "the poll entered the chain");
            assert_eq!(current_chain().len(), 1, "and left it");
            let seen = poll_once(outer.instrument_unspanned(chain_len(), |_| false));
            assert_eq!(
                seen,
                Poll::Ready(1),
                "the first poll kept the start's frame"
            );
            assert!(current_chain().is_empty(), "and left it");
        });
        assert_eq!(counted, (2, 2, 0, 0));
    }

    /// A function with a depth limit and no counters.
    mod limited {
        use super::{chain_len, AsyncCall};
        use crate::current_chain;
        use crate::site::{Config, Site};

        const LIMITED: Config = super::config(4, false);
        static SITE: Site = super::site("future_tests::limited", LIMITED);
        crate::__io_declare_key!(SITE, LIMITED);

        #[test]
        fn an_uncounted_call_dropped_before_its_first_poll_leaves_the_frame_too() {
            std::thread::spawn(|| {
                let call = AsyncCall::<__IoKey>::start();
                let chain = current_chain();
                assert!(chain.len() == 1 && chain[0].qualified_name() == "future_tests::limited");
                drop(call.instrument_unspanned(chain_len(), |_| false));
                assert!(current_chain().is_empty());
                // Its depth went back too: four more nest within the limit
                // (the fourth would overflow were the first's depth left).
                let calls: Vec<_> = (0..4).map(|_| AsyncCall::<__IoKey>::start()).collect();
                assert_eq!(current_chain().len(), 1);
                drop(calls);
                assert!(current_chain().is_empty());
            })
            .join()
            .unwrap();
        }
    }

    /// What a switched-off async function's body sees: the chain's length,
    /// and the chain's length inside an enabled function it calls.
    #[crate::instrument_once(crate = crate, timing = false)]
    async fn switched(inner: bool) -> (usize, usize) {
        (current_chain().len(), if inner { nested() } else { 0 })
    }

    #[crate::instrument_once(crate = crate, timing = false)]
    fn nested() -> usize {
        current_chain().len()
    }

    #[test]
    fn a_switched_off_async_function_stays_off_the_chain_and_takes_no_block() {
        // Called once, on another thread: registered, with a block there.
        let first = std::thread::spawn(|| poll_once(switched(false)));
        assert_eq!(first.join().unwrap(), Poll::Ready((1, 0)));
        let site = crate::registry()
            .get(concat!(module_path!(), "::switched"))
            .unwrap();
        site.set_enabled(false);
        let blocks = site.stats.block_count();
        let seen = std::thread::spawn(|| poll_once(switched(true)))
            .join()
            .unwrap();
        site.clear_enabled();
        assert_eq!(seen, Poll::Ready((0, 1)), "as a switched-off sync call");
        assert_eq!(site.stats.block_count(), blocks, "no block for this thread");
    }

    /// The two tests count calls of one site: one at a time.
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
}
