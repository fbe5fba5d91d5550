//! The per-function [`Site`]: what `#[instrument_once]` puts in a `static`.
//!
//! # Design
//!
//! Every instrumented function owns exactly one `static Site`, built by a
//! `const fn` from metadata known at compile time (name, module path, file,
//! line, level, options). Nothing about a site is allocated: its counters live
//! inline in the static (see [`crate::Stats`] for the layout), and the only
//! run-time state the hot path reads is one word, `ctl`:
//!
//! ```text
//!   bit 0       REGISTERED   the site is in the registry
//!   bit 1       REGISTERING  a thread is registering it right now
//!   bit 2       ENABLED      instrumentation is on for this site
//!   bit 3       CALLED       an instrumented call has happened (set once)
//!   bit 4       FILTERED     the last call's span was not recorded by the
//!                            subscriber (written only when it changes)
//!   bits 8..32  index        the site's position in the registry, written
//!                            once with REGISTERED (what a thread's chain
//!                            of active calls records)
//! ```
//!
//! A call reads `ctl` once with a relaxed load. If `REGISTERED` is clear it
//! takes the `#[cold]` registration path, which runs exactly once per site no
//! matter how many threads make the first call together: one thread wins the
//! compare-exchange from `0` to `REGISTERING`, the others wait for it. With the
//! default `static-registry` feature every site is also reached at start-up
//! through a link-time list, so the registry lists it before its first call.
//!
//! Switches ([`Site::set_enabled`], [`crate::control`]) only flip the
//! `ENABLED` bit, so they take effect on the next call in every thread.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use crate::stats::SiteStats;

pub(crate) const REGISTERED: u32 = 1;
pub(crate) const REGISTERING: u32 = 1 << 1;
pub(crate) const ENABLED: u32 = 1 << 2;
pub(crate) const CALLED: u32 = 1 << 3;
pub(crate) const FILTERED: u32 = 1 << 4;
/// Where the registry index starts in `ctl`.
pub(crate) const INDEX_SHIFT: u32 = 8;
/// The largest index `ctl` holds: a binary with more instrumented functions
/// than that (16 million) records the extra ones as this index, which names
/// no site, so chains leave them out.
pub(crate) const INDEX_MAX: u32 = u32::MAX >> INDEX_SHIFT;

/// Per-site override set through [`Site::set_enabled`]; wins over directives.
const OVERRIDE_NONE: u8 = 0;
const OVERRIDE_ON: u8 = 1;
const OVERRIDE_OFF: u8 = 2;

/// Options fixed at compile time by the attribute.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// `max_depth = N`; `0` means no per-function limit. (`on_overflow` is
    /// not stored: it chooses which entry function the generated code calls.)
    pub max_depth: u32,
    /// `recursion = "outermost"`.
    pub outermost: bool,
    /// `timing = false` turns clock reads off.
    pub timing: bool,
    /// `stats = false` turns counters and clock reads off.
    pub stats: bool,
}

impl Config {
    /// Whether calls keep depth bookkeeping (for counters, limits or
    /// `outermost`). Spans-only sites keep none.
    #[inline]
    pub(crate) const fn tracks(self) -> bool {
        self.stats || self.max_depth != 0 || self.outermost
    }
}

/// Compile-time facts about an instrumented function.
#[doc(hidden)]
#[derive(Debug)]
pub struct Meta {
    /// Span name.
    pub name: &'static str,
    /// `module::path::fn`, or `module::Type::fn` under an impl-level attribute.
    pub qualified_name: &'static str,
    /// `module_path!()` of the function.
    pub module_path: &'static str,
    /// Span target (defaults to the module path).
    pub target: &'static str,
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
    /// Span level.
    pub level: tracing::Level,
    /// Options.
    pub config: Config,
}

/// One instrumented function: its metadata, switch and statistics.
///
/// Sites are created by `#[instrument_once]` as `static` items, one per
/// annotated function, and are reached through [`crate::registry()`]. You do
/// not construct them yourself.
///
/// # Example
///
/// ```
/// use instrument_once::instrument_once;
///
/// #[instrument_once]
/// fn load(id: u64) -> u64 { id * 2 }
///
/// # fn main() {
/// load(21);
/// let site = instrument_once::registry()
///     .get(concat!(module_path!(), "::load"))
///     .expect("every annotated function is registered");
/// assert_eq!(site.name(), "load");
/// assert_eq!(site.stats().calls, 1);
/// # }
/// ```
pub struct Site {
    pub(crate) meta: Meta,
    pub(crate) ctl: AtomicU32,
    pub(crate) overridden: AtomicU8,
    pub(crate) stats: SiteStats,
}

impl Site {
    #[doc(hidden)]
    #[must_use]
    pub const fn new(meta: Meta) -> Site {
        Site {
            meta,
            ctl: AtomicU32::new(0),
            overridden: AtomicU8::new(OVERRIDE_NONE),
            stats: SiteStats::new(),
        }
    }

    /// The span name (the function name unless `name = ".."` was given).
    ///
    /// ```
    /// #[instrument_once::instrument_once(name = "fetch")]
    /// fn get() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
    /// assert_eq!(site.name(), "fetch");
    /// # }
    /// ```
    pub fn name(&self) -> &'static str {
        self.meta.name
    }

    /// The module the function is defined in.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn get() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
    /// assert_eq!(site.module_path(), module_path!());
    /// # }
    /// ```
    pub fn module_path(&self) -> &'static str {
        self.meta.module_path
    }

    /// `module::path::fn`; methods under an impl-level attribute are named
    /// `module::path::Type::fn`. This is the name directives and
    /// [`crate::Registry::get`] match against.
    ///
    /// ```
    /// #[derive(Debug)]
    /// struct Repo;
    /// #[instrument_once::instrument_once]
    /// impl Repo {
    ///     fn get(&self) -> u32 { 1 }
    /// }
    /// # fn main() {
    /// let name = concat!(module_path!(), "::Repo::get");
    /// let site = instrument_once::registry().get(name).unwrap();
    /// assert_eq!(site.qualified_name(), name);
    /// # }
    /// ```
    pub fn qualified_name(&self) -> &'static str {
        self.meta.qualified_name
    }

    /// The span's target (the module path unless `target = ".."` was given).
    ///
    /// ```
    /// #[instrument_once::instrument_once(target = "db")]
    /// fn get() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
    /// assert_eq!(site.target(), "db");
    /// # }
    /// ```
    pub fn target(&self) -> &'static str {
        self.meta.target
    }

    /// The span's level.
    ///
    /// ```
    /// #[instrument_once::instrument_once(level = "debug")]
    /// fn get() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
    /// assert_eq!(site.level(), tracing::Level::DEBUG);
    /// # }
    /// ```
    pub fn level(&self) -> tracing::Level {
        self.meta.level
    }

    /// The source file of the function.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn get() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
    /// assert_eq!(site.file(), file!());
    /// # }
    /// ```
    pub fn file(&self) -> &'static str {
        self.meta.file
    }

    /// The line of the attribute.
    ///
    /// ```
    /// const ATTRIBUTE_LINE: u32 = line!(); #[instrument_once::instrument_once]
    /// fn get() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
    /// assert_eq!(site.line(), ATTRIBUTE_LINE);
    /// # }
    /// ```
    pub fn line(&self) -> u32 {
        self.meta.line
    }

    /// `max_depth` given to the attribute, if any.
    ///
    /// ```
    /// #[instrument_once::instrument_once(max_depth = 8)]
    /// fn walk(n: u32) { if n > 0 { walk(n - 1) } }
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::walk")).unwrap();
    /// assert_eq!(site.max_depth(), Some(8));
    /// # }
    /// ```
    pub fn max_depth(&self) -> Option<u32> {
        match self.meta.config.max_depth {
            0 => None,
            n => Some(n),
        }
    }

    /// Whether this site records calls (counters), i.e. it was not annotated
    /// with `stats = false`.
    ///
    /// ```
    /// #[instrument_once::instrument_once(stats = false)]
    /// fn quiet() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::quiet")).unwrap();
    /// assert!(!site.records_stats());
    /// # }
    /// ```
    pub fn records_stats(&self) -> bool {
        self.meta.config.stats
    }

    /// Whether instrumentation is currently on for this site.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn get() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
    /// assert!(site.is_enabled());
    /// # }
    /// ```
    pub fn is_enabled(&'static self) -> bool {
        self.ensure_registered() & ENABLED != 0
    }

    /// Turn instrumentation of this function on or off, from the next call on,
    /// in every thread. An explicit per-site setting wins over directives
    /// (see [`crate::control`]) until [`Site::clear_enabled`] is called.
    ///
    /// A disabled site costs one relaxed load per call: no span, no stats, no
    /// clock read. An explicit `max_depth` still guards.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn get() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
    /// site.set_enabled(false);
    /// get();
    /// assert_eq!(site.stats().calls, 0);
    /// site.set_enabled(true);
    /// get();
    /// assert_eq!(site.stats().calls, 1);
    /// # }
    /// ```
    pub fn set_enabled(&'static self, enabled: bool) {
        self.ensure_registered();
        let _lock = crate::registry::lock();
        self.overridden.store(
            if enabled { OVERRIDE_ON } else { OVERRIDE_OFF },
            Ordering::Relaxed,
        );
        self.apply_enabled(enabled);
    }

    /// Forget a [`Site::set_enabled`] override: the site follows the
    /// directives again.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn get() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
    /// site.set_enabled(false);
    /// site.clear_enabled();
    /// assert!(site.is_enabled());
    /// # }
    /// ```
    pub fn clear_enabled(&'static self) {
        self.ensure_registered();
        let lock = crate::registry::lock();
        self.overridden.store(OVERRIDE_NONE, Ordering::Relaxed);
        self.apply_enabled(crate::control::decide(&lock, self).0);
    }

    /// The explicit override, if [`Site::set_enabled`] was called.
    pub(crate) fn enabled_override(&self) -> Option<bool> {
        match self.overridden.load(Ordering::Relaxed) {
            OVERRIDE_ON => Some(true),
            OVERRIDE_OFF => Some(false),
            _ => None,
        }
    }

    pub(crate) fn apply_enabled(&self, enabled: bool) {
        if enabled {
            self.ctl.fetch_or(ENABLED, Ordering::Relaxed);
        } else {
            self.ctl.fetch_and(!ENABLED, Ordering::Relaxed);
        }
    }

    /// The `ctl` word, registering the site first if needed.
    #[inline]
    pub(crate) fn ensure_registered(&'static self) -> u32 {
        let ctl = self.ctl.load(Ordering::Relaxed);
        if ctl & REGISTERED != 0 {
            ctl
        } else {
            self.register_slow()
        }
    }

    #[cold]
    #[inline(never)]
    fn register_slow(&'static self) -> u32 {
        loop {
            match self
                .ctl
                .compare_exchange(0, REGISTERING, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => {
                    let ctl = crate::registry::insert(self);
                    crate::control::warn_invalid_once();
                    return ctl;
                }
                Err(current) if current & REGISTERED != 0 => return current,
                // Another thread is registering this site: wait for it. The
                // window is a few instructions under the registry lock.
                Err(_) => std::thread::yield_now(),
            }
        }
    }

    /// The site's position in the registry (registration order; 0 before
    /// registration).
    pub(crate) fn index(&self) -> u32 {
        self.ctl.load(Ordering::Relaxed) >> INDEX_SHIFT
    }

    /// Notes that an instrumented call happened (once).
    #[inline]
    pub(crate) fn mark_called(&self, ctl: u32) {
        if ctl & CALLED == 0 {
            self.ctl.fetch_or(CALLED, Ordering::Relaxed);
        }
    }

    /// Notes whether the subscriber recorded this call's span; writes only
    /// when that changes.
    #[inline]
    pub(crate) fn observe_span(&self, recorded: bool) {
        let filtered = self.ctl.load(Ordering::Relaxed) & FILTERED != 0;
        if filtered == recorded {
            if recorded {
                self.ctl.fetch_and(!FILTERED, Ordering::Relaxed);
            } else {
                self.ctl.fetch_or(FILTERED, Ordering::Relaxed);
            }
        }
    }
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Site")
            .field("qualified_name", &self.meta.qualified_name)
            .field("name", &self.meta.name)
            .field("target", &self.meta.target)
            .field("level", &self.meta.level)
            .field("file", &self.meta.file)
            .field("line", &self.meta.line)
            .field(
                "enabled",
                &(self.ctl.load(Ordering::Relaxed) & ENABLED != 0),
            )
            .finish_non_exhaustive()
    }
}
