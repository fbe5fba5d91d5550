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
//!   bit 0       Site::REGISTERED   the site is in the registry
//!   bit 1       Site::REGISTERING  a thread is registering it right now
//!   bit 2       Site::ENABLED      instrumentation is on for this site
//!   bit 3       Site::CALLED       an instrumented call has happened (set
//!                                  once)
//!   bit 4       Site::FILTERED     the last call's span was not recorded by
//!                                  the subscriber (written only when it
//!                                  changes)
//!   bit 5       Site::CALLED_OFF   a call came while it was switched off
//!                                  (set once)
//!   bits 8..32  index              the site's position in the registry,
//!                                  written once with REGISTERED (what a
//!                                  thread's chain of active calls records)
//! ```
//!
//! [`Ctl`] stores the word with the bits of the ready check (`REGISTERED`,
//! `ENABLED`, `CALLED`) inverted, so the check is one `test` against a mask;
//! everything outside it reads and writes the word above.
//!
//! A call reads `ctl` once with a relaxed load. If `REGISTERED` is clear, or
//! the call is the first in the site's present state (on: `CALLED` clear;
//! off: `CALLED_OFF` clear), it takes the `#[cold]` path. Registration
//! there (in [`crate::registry`](mod@crate::registry)) runs exactly once per
//! site no matter how many threads make the first call together. Switches ([`crate::control`]) only flip the `ENABLED` bit, so
//! they take effect on the next call in every thread.
//!
//! This module owns the site and its word; registration, switches and
//! statistics reports are the layers above that use them.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::stats::{SiteStats, Stats};

mod ctl;
pub(crate) use ctl::{Ctl, Loaded};

/// Options fixed at compile time by the attribute.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
// Flags, not a state machine: each is a constant the optimiser folds.
#[allow(clippy::struct_excessive_bools)]
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
    /// `repeats_by(..)` is given: only then can a call be a repeat, so
    /// only then does its exit look for one.
    pub repeats: bool,
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
    /// Whether it takes `self` (`site!` tells methods apart by it).
    pub method: bool,
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
    pub(crate) ctl: Ctl,
    pub(crate) overridden: AtomicU8,
    pub(crate) stats: SiteStats,
}

/// The `ctl` word's bits (see the module documentation).
impl Site {
    pub(crate) const REGISTERED: u32 = 1;
    pub(crate) const REGISTERING: u32 = 1 << 1;
    pub(crate) const ENABLED: u32 = 1 << 2;
    pub(crate) const CALLED: u32 = 1 << 3;
    pub(crate) const FILTERED: u32 = 1 << 4;
    /// A call came while the function was switched off (noted once, by
    /// the first such call's cold path).
    pub(crate) const CALLED_OFF: u32 = 1 << 5;
    /// Where the registry index starts in `ctl`.
    pub(crate) const INDEX_SHIFT: u32 = 8;
    /// The largest index `ctl` holds: a binary with more instrumented
    /// functions than that (16 million) records the extra ones as this
    /// index, which names no site, so chains leave them out.
    pub(crate) const INDEX_MAX: u32 = u32::MAX >> Site::INDEX_SHIFT;
}

/// The per-site switch ([`Site::set_enabled`]), which wins over directives.
impl Site {
    const OVERRIDE_NONE: u8 = 0;
    const OVERRIDE_ON: u8 = 1;
    const OVERRIDE_OFF: u8 = 2;
}

/// Zeroed counters, as a `const`: the compiler evaluates it once, and each
/// function's `static` site copies it, instead of running the constructors
/// again for every function (about 0.4 ms of compile time a function).
#[cfg(not(loom))]
#[allow(clippy::declare_interior_mutable_const)] // copied, never borrowed
const EMPTY_STATS: SiteStats = SiteStats::new();

impl Site {
    crate::sync::const_unless_loom! {
        #[doc(hidden)]
        #[must_use]
        pub fn new(meta: Meta) -> Site {
            Site {
                meta,
                ctl: Ctl::new(),
                overridden: AtomicU8::new(Site::OVERRIDE_NONE),
                #[cfg(not(loom))]
                stats: EMPTY_STATS,
                #[cfg(loom)]
                stats: SiteStats::new(),
            }
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

    /// The function's options.
    #[inline]
    pub(crate) fn config(&self) -> Config {
        self.meta.config
    }

    /// The explicit switch, if [`Site::set_enabled`] was called.
    pub(crate) fn enabled_override(&self) -> Option<bool> {
        match self.overridden.load(Ordering::Relaxed) {
            Site::OVERRIDE_ON => Some(true),
            Site::OVERRIDE_OFF => Some(false),
            _ => None,
        }
    }

    /// Records the explicit switch (`None` forgets it).
    pub(crate) fn set_override(&self, enabled: Option<bool>) {
        let value = match enabled {
            None => Site::OVERRIDE_NONE,
            Some(true) => Site::OVERRIDE_ON,
            Some(false) => Site::OVERRIDE_OFF,
        };
        self.overridden.store(value, Ordering::Relaxed);
    }

    /// Turns the `ENABLED` bit on or off.
    pub(crate) fn apply_enabled(&self, enabled: bool) {
        if enabled {
            self.ctl.set(Site::ENABLED);
        } else {
            self.ctl.clear(Site::ENABLED);
        }
    }

    /// The site's position in the registry (registration order; 0 before
    /// registration).
    pub(crate) fn index(&self) -> u32 {
        self.ctl.load(Ordering::Relaxed) >> Site::INDEX_SHIFT
    }

    /// Notes that an instrumented call happened (once).
    #[inline]
    pub(crate) fn mark_called(&self, ctl: u32) {
        if ctl & Site::CALLED == 0 {
            self.ctl.set(Site::CALLED);
        }
    }

    /// Notes a call while switched off, once.
    pub(crate) fn mark_called_off(&self, ctl: u32) {
        if ctl & Site::CALLED_OFF == 0 {
            self.ctl.set(Site::CALLED_OFF);
        }
    }

    /// Notes whether the subscriber recorded this call's span; writes only
    /// when that changes.
    #[inline]
    pub(crate) fn observe_span(&self, recorded: bool) {
        let filtered = self.ctl.load(Ordering::Relaxed) & Site::FILTERED != 0;
        if filtered == recorded {
            if recorded {
                self.ctl.clear(Site::FILTERED);
            } else {
                self.ctl.set(Site::FILTERED);
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
                &(self.ctl.load(Ordering::Relaxed) & Site::ENABLED != 0),
            )
            .finish_non_exhaustive()
    }
}

impl Site {
    /// A snapshot of this function's statistics (see [`Stats`] for what
    /// each counter counts).
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn work() {}
    /// # fn main() {
    /// work();
    /// work();
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::work")).unwrap();
    /// assert_eq!(site.stats().calls, 2);
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        self.stats.snapshot(self.meta.config.timing)
    }

    /// Zero this function's statistics. Calls in flight stay in flight.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn work() {}
    /// # fn main() {
    /// work();
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::work")).unwrap();
    /// site.reset_stats();
    /// assert_eq!(site.stats().calls, 0);
    /// # }
    /// ```
    pub fn reset_stats(&self) {
        self.stats.reset();
    }
}
