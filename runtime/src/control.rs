//! Switches: turn instrumentation off per function, per module pattern, or
//! for the whole program, by environment variable or at run time.
//!
//! # Directives
//!
//! A directive list is comma-separated; each directive is one of
//!
//! | directive   | meaning                                                   |
//! |-------------|-----------------------------------------------------------|
//! | `on`        | every function on (the default)                           |
//! | `off`       | every function off                                        |
//! | `-PATTERN`  | functions matching `PATTERN` off                           |
//! | `+PATTERN`  | functions matching `PATTERN` on                            |
//!
//! `PATTERN` is `::`-separated Rust identifiers in which `*` matches any run
//! of characters. It matches a function whose qualified name
//! ([`crate::Site::qualified_name`]) it matches entirely, or whose qualified
//! name starts with it followed by `::` (so `-my_app::db` covers everything
//! in `my_app::db`). When several directives match, the last one wins.
//!
//! The environment variable `INSTRUMENT_ONCE` is read once, at the first
//! registry access. Invalid directives in it are reported with a `tracing`
//! warning (target `instrument_once`) and the valid ones still apply.
//! At run time, [`add`] puts directives after those in force (so they win
//! where they match, and the environment's others stay), [`remove`] takes
//! directives out again, and [`set`] replaces them all. Each is
//! all-or-nothing: on a [`ParseError`] nothing changes. Every directive
//! keeps its source, so [`crate::diagnose()`] says whether a function is off
//! by the environment variable or by the program.
//!
//! Patterns are case-sensitive, as Rust paths are: `-App::Cache` does not
//! match `app::cache`. [`crate::diagnose()`] lists a directive that matches
//! no instrumented function, and [`add`] and [`set`] log a `tracing` warning
//! for one (target `instrument_once`). (With the default `static-registry`
//! feature every instrumented function is known from the start; without
//! it, only those called so far, so neither is done.)
//!
//! ```
//! #[instrument_once::instrument_once]
//! fn get() {}
//!
//! # fn main() {
//! // Turn this module off for now, keeping whatever INSTRUMENT_ONCE says:
//! let off = concat!("-", module_path!());
//! instrument_once::control::add(off).unwrap();
//! let site = instrument_once::registry().get(concat!(module_path!(), "::get")).unwrap();
//! assert!(!site.is_enabled());
//! // ... and back on.
//! instrument_once::control::remove(off).unwrap();
//! assert!(site.is_enabled());
//! # }
//! ```
//!
//! # Precedence
//!
//! A per-site switch ([`crate::Site::set_enabled`]) wins over every directive
//! until [`crate::Site::clear_enabled`]. Every switch takes effect on the next
//! call of the function, in every thread; an async call follows the switch
//! as it is at the call's first poll.
//!
//! ```
//! #[instrument_once::instrument_once]
//! fn hot_loop() {}
//!
//! # fn main() {
//! instrument_once::control::set("-*::hot_*").unwrap();
//! let site = instrument_once::registry().get(concat!(module_path!(), "::hot_loop")).unwrap();
//! assert!(!site.is_enabled());
//! instrument_once::control::set("on").unwrap();
//! assert!(site.is_enabled());
//! # }
//! ```

use crate::directives::parse_strict;
use crate::registry::switches::{self, decide, Source};
use crate::site::Site;

pub use crate::depth::ENV_MAX_TOTAL_DEPTH;
pub use crate::directives::{ParseError, ENV_VAR};
pub use crate::stats::ENV_HISTOGRAM_MEMORY;

/// Replace the directives in force (see the [module docs](self) for the
/// syntax), re-deciding every site from its next call on. All-or-nothing: if
/// a directive is invalid nothing changes and the error names it.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn query() {}
///
/// # fn main() {
/// let err = instrument_once::control::set("-my_app::db, oops").unwrap_err();
/// assert_eq!(err.directive(), "oops");
/// instrument_once::control::set("off").unwrap();
/// query();
/// assert_eq!(instrument_once::registry().get(concat!(module_path!(), "::query")).unwrap().stats().calls, 0);
/// instrument_once::control::set("on").unwrap();
/// # }
/// ```
///
/// # Errors
///
/// [`ParseError`] for the first invalid directive.
pub fn set(directives: &str) -> Result<(), ParseError> {
    let parsed = parse_strict(directives)?;
    // Register every static site first, so they are re-decided too.
    crate::registry();
    switches::change(|now| {
        *now = parsed.iter().cloned().map(|d| (d, Source::Api)).collect();
    });
    warn_unmatched(&parsed);
    Ok(())
}

/// Adds directives after those in force (see the [module docs](self)): where
/// they match they win, and every other directive, the environment's
/// included, stays with its source. All-or-nothing, as [`set`].
///
/// ```
/// #[instrument_once::instrument_once]
/// fn cache_get() {}
///
/// # fn main() {
/// instrument_once::control::set("").unwrap();
/// instrument_once::control::add("-*::cache_*").unwrap();
/// instrument_once::control::add("+*::cache_get").unwrap();
/// assert_eq!(instrument_once::control::current(), "-*::cache_*,+*::cache_get");
/// let site = instrument_once::registry().get(concat!(module_path!(), "::cache_get")).unwrap();
/// assert!(site.is_enabled(), "the later directive wins");
/// instrument_once::control::set("").unwrap();
/// # }
/// ```
///
/// # Errors
///
/// [`ParseError`] for the first invalid directive.
pub fn add(directives: &str) -> Result<(), ParseError> {
    let parsed = parse_strict(directives)?;
    crate::registry();
    switches::change(|now| now.extend(parsed.iter().cloned().map(|d| (d, Source::Api))));
    warn_unmatched(&parsed);
    Ok(())
}

/// Undoes [`add`]: removes, for each of these directives, the last copy the
/// program added; only when the program added none, the copies from the
/// environment. So `add(d)` then `remove(d)` leaves what
/// `INSTRUMENT_ONCE` said, even when it said `d` too. Returns how many were
/// removed (a directive not in force is not an error: removing is
/// idempotent). All-or-nothing, as [`set`].
///
/// ```
/// instrument_once::control::set("-a::b,-c::d").unwrap();
/// assert_eq!(instrument_once::control::remove("-a::b, -x::y").unwrap(), 1);
/// assert_eq!(instrument_once::control::current(), "-c::d");
/// instrument_once::control::set("").unwrap();
/// ```
///
/// # Errors
///
/// [`ParseError`] for the first invalid directive.
pub fn remove(directives: &str) -> Result<usize, ParseError> {
    let parsed = parse_strict(directives)?;
    crate::registry();
    Ok(switches::change(|now| {
        let mut removed = 0;
        for d in &parsed {
            let added = now
                .iter()
                .rposition(|(held, source)| held == d && *source == Source::Api);
            if let Some(at) = added {
                now.remove(at);
                removed += 1;
            } else {
                let before = now.len();
                now.retain(|(held, _)| held != d);
                removed += before - now.len();
            }
        }
        removed
    }))
}

/// A `tracing` warning for each directive that matches no registered
/// function (a misspelt or wrongly cased pattern, most likely).
fn warn_unmatched(directives: &[crate::directives::Directive]) {
    // Nothing can match nothing then (see `matches_nothing`): spare the
    // listing.
    if !cfg!(feature = "static-registry") {
        return;
    }
    let sites = crate::registry().sites();
    for d in directives {
        if switches::matches_nothing(d, &sites) {
            tracing::warn!(
                target: "instrument_once",
                directive = %d,
                "directive `{d}` matches no instrumented function (patterns are \
                 case-sensitive `::` paths; registry().sites() lists the names)"
            );
        }
    }
}

/// The directives in force, as a directive string.
///
/// ```
/// instrument_once::control::set("-a::b, +a::b::c").unwrap();
/// assert_eq!(instrument_once::control::current(), "-a::b,+a::b::c");
/// instrument_once::control::set("").unwrap();
/// ```
pub fn current() -> String {
    let inner = crate::registry::lock();
    let parts: Vec<String> = inner
        .switches
        .directives
        .iter()
        .map(|(d, _)| d.to_string())
        .collect();
    parts.join(",")
}

/// The per-function switch.
impl Site {
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
        self.ensure_registered() & Site::ENABLED != 0
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
        // Under the registry lock, as every decision of the switch.
        let _lock = crate::registry::lock();
        self.set_override(Some(enabled));
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
        self.set_override(None);
        self.apply_enabled(decide(&lock, self).0);
    }
}
