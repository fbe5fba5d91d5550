//! The guard of one synchronous call that every function shares: the
//! generated code uses it in a build with debug assertions (the dev
//! profile), [`Call`](super::sync::Call) in an optimised build.
//!
//! [`Call`](super::sync::Call) is generic over the function's key, so each
//! instrumented function gets its own copy of its methods (and of their
//! drop glue): that is what lets an optimised build fold the function's
//! options into constants. In a dev build nothing folds, and the copies
//! only cost compile time and code. [`SharedCall`] holds the site as a
//! value instead: it is not generic, its methods are compiled once, in this
//! crate, and an instrumented function only calls them. It finds the
//! function's thread-local state in the thread's table by the site's
//! registry index, so the function declares no thread-local either (see
//! [`crate::depth`]'s `LocalAt`). Both guards record exactly the same
//! things (the generated code is the same but for the type); the scale
//! benchmark measures what this saves.

use std::hash::Hash;
use std::mem::ManuallyDrop;

use super::reach::{Dyn, Reach};
use super::{begin_or_panic, end, try_begin, unfinished, Begun, Enter};
use crate::depth::LocalAt;
use crate::overflow::DepthExceeded;
use crate::site::Site;
use crate::stats::Outcome;

/// The guard of one synchronous call, not generic (see the module docs).
/// Dropped without [`SharedCall::finish`], it records a panic.
pub struct SharedCall {
    begun: Begun,
    start: u64,
    reach: Dyn,
}

impl SharedCall {
    /// Enters a call of the function `site` belongs to (its
    /// options are read from the site); panics with the [`DepthExceeded`]
    /// message when `max_depth` is exceeded, located where the generated
    /// code calls this.
    #[must_use]
    #[track_caller]
    pub fn enter(site: &'static Site) -> SharedCall {
        let reach = Dyn::new(site, LocalAt::Table(site));
        let (begun, start) = begin_or_panic(reach, Enter::Call);
        SharedCall {
            begun,
            start,
            reach,
        }
    }

    /// Enters a call; `Err` when `max_depth` is exceeded (the body must not
    /// run).
    ///
    /// # Errors
    ///
    /// [`DepthExceeded`] when the call would exceed `max_depth`.
    pub fn try_enter(site: &'static Site) -> Result<SharedCall, DepthExceeded> {
        let reach = Dyn::new(site, LocalAt::Table(site));
        let (begun, start) = try_begin(reach, Enter::Call)?;
        Ok(SharedCall {
            begun,
            start,
            reach,
        })
    }

    /// Whether this call should open a span (see
    /// [`Call::span_wanted`](super::sync::Call::span_wanted)).
    #[must_use]
    pub fn span_wanted(&self) -> bool {
        self.begun.flags() & Begun::SPAN != 0
    }

    /// Notes the call's key (see
    /// [`Call::repeats_by`](super::sync::Call::repeats_by)).
    pub fn repeats_by<T: Hash + ?Sized>(&mut self, key: &T) {
        self.begun.note_repeat_key(self.reach.local(), key);
    }

    /// Records how the call returned. `is_err` is whether it returned `Err`.
    pub fn finish(self, is_err: bool) {
        // Not dropped: `Drop` records a panic.
        let this = ManuallyDrop::new(self);
        end(
            this.reach,
            this.begun,
            this.start,
            Outcome::of_return(is_err),
        );
    }
}

impl Drop for SharedCall {
    fn drop(&mut self) {
        // Not finished: a panic is unwinding through the function, or an
        // inline body left early with `return` or `?`.
        end(self.reach, self.begun, self.start, unfinished());
    }
}
