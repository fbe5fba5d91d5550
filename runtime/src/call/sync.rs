//! The guard of one synchronous call.
#![allow(clippy::inline_always)]

use std::hash::Hash;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

use super::reach::{reach, Key, Reach};
use super::{begin_or_panic, end, try_begin, unfinished, Begun, Enter};
use crate::overflow::DepthExceeded;
use crate::stats::Outcome;

/// The guard of one synchronous call. Dropped without [`Call::finish`], it
/// records a panic.
pub struct Call<K: Key> {
    begun: Begun,
    start: u64,
    key: PhantomData<fn() -> K>,
}

impl<K: Key> Call<K> {
    /// Enters a call; panics with the [`DepthExceeded`] message when
    /// `max_depth` is exceeded, located where the generated code calls this
    /// (the function's name; or, in a `#[track_caller]` function whose body
    /// runs inline, its caller).
    #[inline(always)]
    #[must_use]
    #[track_caller]
    pub fn enter() -> Call<K> {
        let (begun, start) = begin_or_panic(reach::<K>(), Enter::Call);
        Call {
            begun,
            start,
            key: PhantomData,
        }
    }

    /// Enters a call; `Err` when `max_depth` is exceeded (the body must not
    /// run).
    ///
    /// # Errors
    ///
    /// [`DepthExceeded`] when the call would exceed `max_depth`.
    #[inline(always)]
    pub fn try_enter() -> Result<Call<K>, DepthExceeded> {
        let (begun, start) = try_begin(reach::<K>(), Enter::Call)?;
        Ok(Call {
            begun,
            start,
            key: PhantomData,
        })
    }

    /// Whether this call should open a span (enabled, within the ceiling,
    /// and not an inner call under `recursion = "outermost"`).
    #[inline]
    pub fn span_wanted(&self) -> bool {
        self.begun.flags() & Begun::SPAN != 0
    }

    /// Notes the call's key (the `repeats_by` arguments) when the call runs
    /// inside a request: a call of the same function with an equal key
    /// earlier in the request makes this one a repeat.
    #[inline(always)]
    pub fn repeats_by<T: Hash + ?Sized>(&mut self, key: &T) {
        self.begun.note_repeat_key(reach::<K>().local(), key);
    }

    /// Records how the call returned. `is_err` is whether it returned `Err`.
    #[inline(always)]
    pub fn finish(self, is_err: bool) {
        // Not dropped: `Drop` records a panic.
        let this = ManuallyDrop::new(self);
        end(
            reach::<K>(),
            this.begun,
            this.start,
            Outcome::of_return(is_err),
        );
    }
}

impl<K: Key> Drop for Call<K> {
    #[inline(always)]
    fn drop(&mut self) {
        // Not finished: a panic is unwinding through the function, or an
        // inline body (whose value needs no classifying) left early with
        // `return` or `?`.
        end(reach::<K>(), self.begun, self.start, unfinished());
    }
}
