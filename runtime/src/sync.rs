//! The synchronisation primitives of the lock-free parts that the loom
//! models check: from `std`, or from `loom` when the crate is compiled with
//! `RUSTFLAGS="--cfg loom"`, so the models run this crate's own code (the
//! hook slots' publication and reclamation), not a copy of it.
//!
//! Loom's types cannot live in a `static` built by a `const fn`: the parts
//! that must run under loom create them at run time, and their globals go
//! through [`global!`] (a plain `static` with `std`, a per-execution lazy
//! static with loom).

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    compiler_fence, fence, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

/// A cell whose accesses loom checks: a mutable access concurrent with any
/// other access fails the model. With `std`, a plain `UnsafeCell`.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer for shared access.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a pointer for exclusive access.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Loom has no compiler-only fence: a real one is what a model needs.
#[cfg(loom)]
pub(crate) fn compiler_fence(order: Ordering) {
    fence(order);
}

/// Locks a mutex, ignoring poisoning: the data behind every lock of this
/// crate is only changed by code that cannot panic half-way.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A function that builds a value of the lock-free parts: `const` with
/// `std` (so it can initialise a `static`), plain under loom (whose types
/// are built at run time).
macro_rules! const_unless_loom {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$attr])*
        #[cfg(not(loom))]
        $vis const fn $name($($arg: $ty),*) -> $ret $body
        $(#[$attr])*
        #[cfg(loom)]
        $vis fn $name($($arg: $ty),*) -> $ret $body
    };
}
pub(crate) use const_unless_loom;

/// A global: `global!(NAME: Type = init);` then `NAME.get()`.
macro_rules! global {
    ($(#[$attr:meta])* $name:ident: $ty:ty = $init:expr;) => {
        $(#[$attr])*
        #[cfg(not(loom))]
        static $name: $crate::sync::Global<$ty> = $crate::sync::Global($init);
        #[cfg(loom)]
        loom::lazy_static! {
            static ref $name: $crate::sync::Global<$ty> = $crate::sync::Global($init);
        }
    };
}
pub(crate) use global;

/// What [`global!`] declares: a value reached through [`Global::get`].
pub(crate) struct Global<T>(pub(crate) T);

impl<T> Global<T> {
    #[inline]
    pub(crate) fn get(&self) -> &T {
        &self.0
    }
}

/// A box set at most once, then read without a lock: `OnceLock<Box<T>>`
/// with `std`; under loom a loom mutex (leaking the value), so a model
/// sees that whatever was built before [`OnceBox::set`] happens before a
/// [`OnceBox::get`] that returns it.
#[cfg(not(loom))]
pub(crate) struct OnceBox<T>(std::sync::OnceLock<Box<T>>);

#[cfg(not(loom))]
impl<T> OnceBox<T> {
    pub(crate) const fn new() -> Self {
        OnceBox(std::sync::OnceLock::new())
    }

    #[inline]
    pub(crate) fn get(&self) -> Option<&T> {
        self.0.get().map(|b| &**b)
    }

    /// Sets the value; `Err` with it when one was already set.
    pub(crate) fn set(&self, value: Box<T>) -> Result<(), Box<T>> {
        self.0.set(value)
    }
}

/// See the `std` version.
#[cfg(loom)]
pub(crate) struct OnceBox<T: 'static>(Mutex<Option<&'static T>>);

#[cfg(loom)]
impl<T: 'static> OnceBox<T> {
    pub(crate) fn new() -> Self {
        OnceBox(Mutex::new(None))
    }

    pub(crate) fn get(&self) -> Option<&T> {
        *lock(&self.0)
    }

    pub(crate) fn set(&self, value: Box<T>) -> Result<(), Box<T>> {
        let mut slot = lock(&self.0);
        if slot.is_some() {
            return Err(value);
        }
        *slot = Some(Box::leak(value));
        Ok(())
    }
}

/// Waits a moment for another thread to finish a short step: a spin hint
/// for the first `16` rounds, then a yield of the CPU. Under loom, a yield
/// the model schedules (a spin would never let the other thread run).
pub(crate) fn backoff(round: u32) {
    #[cfg(loom)]
    {
        let _ = round;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    if round < 16 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Sleeps for `pause`; under loom, a yield the model schedules (loom has
/// no clock).
pub(crate) fn sleep(pause: std::time::Duration) {
    #[cfg(loom)]
    {
        let _ = pause;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    std::thread::sleep(pause);
}

/// Runs a loom model with at most 3 preemptions, unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise (CI sets 4): the one way every
/// model of this crate is run. (Bound 2 missed a relaxed announcement in
/// the hook slots' reclamation that bound 3 finds.)
#[cfg(all(loom, test))]
pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}
