//! How the engine reaches a function's site, options and thread-local.
//!
//! The attribute declares, for each async function and for each sync one in
//! an optimised build, a [`Callee`] (its site and options, in a `static`
//! without interior mutability), its thread-local, and a zero-sized [`Key`]
//! type that names both. The engine is generic over [`Reach`], with two
//! implementations:
//!
//! * [`Const`], in an optimised build: the key itself, so every engine
//!   function is compiled into the instrumented function with the callee's
//!   fields and the thread-local as constants (branches on options fold
//!   away, the thread-local is reached directly);
//! * [`Dyn`], in a build with debug assertions (the dev profile): the site
//!   and where the thread-local state is ([`LocalAt`]) as values, so the
//!   engine is compiled once, in this crate, and an instrumented function
//!   only calls it (the scale benchmark measures what each costs in code and
//!   compile time). The sync guard every function shares there,
//!   [`SharedCall`](super::shared::SharedCall), holds one that points at
//!   the thread's table (such a function declares no thread-local and no
//!   key).
//!
//! [`reach`] picks one by `debug_assertions`.

use std::marker::PhantomData;
use std::thread::LocalKey;

use crate::depth::{Local, LocalAt};
use crate::site::{Config, Site};

/// What the attribute declares for each function (each async one, and each
/// sync one in an optimised build), as a `static`: its site and its
/// options. It holds nothing mutable, so once the engine is inlined
/// into the function, every field is a constant.
#[doc(hidden)]
#[derive(Debug)]
pub struct Callee {
    /// The function's site.
    pub site: &'static Site,
    /// The function's options (also in the site, which is mutable memory:
    /// a copy here folds).
    pub config: Config,
}

/// The zero-sized type the attribute declares for each function, naming
/// its [`Callee`] and its thread-local.
#[doc(hidden)]
pub trait Key: 'static {
    /// The function's callee.
    fn callee() -> &'static Callee;
    /// The function's thread-local. (Not a field of the callee: reached
    /// directly, its accessor inlines; through a field of the callee it was
    /// sometimes left an indirect call.)
    fn local() -> &'static LocalKey<Local>;
}

/// A way to reach a function's site, options and thread-local.
pub(crate) trait Reach: Copy + 'static {
    /// The function's site.
    fn site(self) -> &'static Site;
    /// The function's options.
    fn config(self) -> Config;
    /// Where the function's thread-local state is.
    fn local(self) -> LocalAt;
}

/// The key as constants (optimised builds).
#[cfg_attr(debug_assertions, allow(dead_code))]
pub(crate) struct Const<K>(PhantomData<fn() -> K>);

impl<K> Clone for Const<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Const<K> {}

impl<K: Key> Reach for Const<K> {
    #[inline(always)]
    fn site(self) -> &'static Site {
        K::callee().site
    }

    #[inline(always)]
    fn config(self) -> Config {
        K::callee().config
    }

    #[inline(always)]
    fn local(self) -> LocalAt {
        LocalAt::Own(K::local())
    }
}

/// The site and where its thread-local state is, as values (the guards of
/// a build with debug assertions, and
/// [`SharedCall`](super::shared::SharedCall), which finds the state in the
/// thread's table); the options are read from the site.
#[derive(Clone, Copy)]
pub(crate) struct Dyn {
    site: &'static Site,
    local: LocalAt,
}

impl Dyn {
    #[inline(always)]
    pub(crate) fn new(site: &'static Site, local: LocalAt) -> Dyn {
        Dyn { site, local }
    }
}

impl Reach for Dyn {
    #[inline(always)]
    fn site(self) -> &'static Site {
        self.site
    }

    #[inline(always)]
    fn config(self) -> Config {
        self.site.config()
    }

    #[inline(always)]
    fn local(self) -> LocalAt {
        self.local
    }
}

/// How the guards of the function named by `K` reach it: [`Const`] in an
/// optimised build.
#[inline(always)]
#[cfg(not(debug_assertions))]
pub(crate) fn reach<K: Key>() -> impl Reach {
    Const::<K>(PhantomData)
}

/// How the guards of the function named by `K` reach it: [`Dyn`] in a
/// build with debug assertions.
#[inline(always)]
#[cfg(debug_assertions)]
pub(crate) fn reach<K: Key>() -> impl Reach {
    Dyn::new(K::callee().site, LocalAt::Own(K::local()))
}
