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
//! [`set`] replaces the directives at run time; it is all-or-nothing: on a
//! [`ParseError`] nothing changes.
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

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::registry::Inner;
use crate::site::Site;

/// Name of the environment variable holding directives.
///
/// ```
/// assert_eq!(instrument_once::control::ENV_VAR, "INSTRUMENT_ONCE");
/// ```
pub const ENV_VAR: &str = "INSTRUMENT_ONCE";
/// Name of the environment variable holding the per-thread depth ceiling
/// (see [`crate::set_max_total_depth`]).
///
/// ```
/// assert_eq!(instrument_once::control::ENV_MAX_TOTAL_DEPTH, "INSTRUMENT_ONCE_MAX_TOTAL_DEPTH");
/// ```
pub const ENV_MAX_TOTAL_DEPTH: &str = "INSTRUMENT_ONCE_MAX_TOTAL_DEPTH";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Directive {
    All(bool),
    Pattern { on: bool, pattern: String },
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Directive::All(true) => f.write_str("on"),
            Directive::All(false) => f.write_str("off"),
            Directive::Pattern { on, pattern } => {
                write!(f, "{}{pattern}", if *on { '+' } else { '-' })
            }
        }
    }
}

/// Where the directives in force came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Default,
    Env,
    Api,
}

pub(crate) struct State {
    initialized: bool,
    directives: Vec<Directive>,
    source: Source,
    invalid: Vec<ParseError>,
}

impl State {
    pub(crate) const UNINIT: State = State {
        initialized: false,
        directives: Vec::new(),
        source: Source::Default,
        invalid: Vec::new(),
    };

    pub(crate) fn init_from_env(&mut self) {
        if self.initialized {
            return;
        }
        self.initialized = true;
        if let Ok(value) = std::env::var(ENV_VAR) {
            let (directives, invalid) = parse_lenient(&value);
            self.directives = directives;
            self.invalid = invalid;
            self.source = Source::Env;
        }
        if let Ok(value) = std::env::var(ENV_MAX_TOTAL_DEPTH) {
            match value.trim().parse::<u32>() {
                Ok(n) => crate::depth::set_max_total_depth(n),
                Err(_) => self.invalid.push(ParseError {
                    directive: format!("{ENV_MAX_TOTAL_DEPTH}={value}"),
                    reason: "expected a whole number of calls",
                }),
            }
        }
    }

    /// Invalid directives found in the environment.
    pub(crate) fn invalid(&self) -> &[ParseError] {
        &self.invalid
    }
}

/// Why a site is on or off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// No directive matched.
    Default,
    /// `Site::set_enabled`.
    Api,
    /// The last matching directive, and where it came from.
    Directive(String, Source),
}

/// Decides whether `site` is on under the directives in force.
pub(crate) fn decide(inner: &Inner, site: &Site) -> (bool, Reason) {
    if let Some(on) = site.enabled_override() {
        return (on, Reason::Api);
    }
    let state = &inner.control;
    let name = site.qualified_name();
    state
        .directives
        .iter()
        .rev()
        .find(|d| match d {
            Directive::All(_) => true,
            Directive::Pattern { pattern, .. } => matches(pattern, name),
        })
        .map_or((true, Reason::Default), |d| {
            let on = match d {
                Directive::All(on) | Directive::Pattern { on, .. } => *on,
            };
            (on, Reason::Directive(d.to_string(), state.source))
        })
}

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
    let mut inner = crate::registry::lock();
    inner.control.directives = parsed;
    inner.control.source = Source::Api;
    for site in inner.sites.clone() {
        let (on, _) = decide(&inner, site);
        site.apply_enabled(on);
    }
    Ok(())
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
        .control
        .directives
        .iter()
        .map(ToString::to_string)
        .collect();
    parts.join(",")
}

/// An invalid directive.
///
/// ```
/// let err = instrument_once::control::set("+my_app::9lives").unwrap_err();
/// assert_eq!(err.directive(), "+my_app::9lives");
/// assert!(err.to_string().contains("identifier"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    directive: String,
    reason: &'static str,
}

impl ParseError {
    /// The directive as written.
    ///
    /// ```
    /// assert_eq!(instrument_once::control::set("x y").unwrap_err().directive(), "x y");
    /// ```
    pub fn directive(&self) -> &str {
        &self.directive
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid instrument_once directive `{}`: {}; expected `on`, `off`, `+PATTERN` or `-PATTERN`, \
             where PATTERN is `::`-separated identifiers in which `*` matches anything",
            self.directive, self.reason
        )
    }
}

impl std::error::Error for ParseError {}

fn parse_one(raw: &str) -> Result<Option<Directive>, ParseError> {
    let d = raw.trim();
    let err = |reason| ParseError {
        directive: d.to_owned(),
        reason,
    };
    match d {
        "" => return Ok(None),
        "on" => return Ok(Some(Directive::All(true))),
        "off" => return Ok(Some(Directive::All(false))),
        _ => {}
    }
    let (on, pattern) = match d.as_bytes()[0] {
        b'+' => (true, &d[1..]),
        b'-' => (false, &d[1..]),
        _ => {
            return Err(err(
                "a directive starts with `+` or `-`, or is `on` or `off`",
            ))
        }
    };
    if pattern.is_empty() {
        return Err(err("the pattern is empty"));
    }
    for segment in pattern.split("::") {
        let valid = !segment.is_empty()
            && segment
                .chars()
                .all(|c| c == '_' || c == '*' || c.is_alphanumeric())
            && !segment.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(err(
                "each `::`-separated part must be a Rust identifier, optionally with `*`",
            ));
        }
    }
    Ok(Some(Directive::Pattern {
        on,
        pattern: pattern.to_owned(),
    }))
}

fn parse_strict(s: &str) -> Result<Vec<Directive>, ParseError> {
    let mut out = Vec::new();
    for raw in s.split(',') {
        if let Some(d) = parse_one(raw)? {
            out.push(d);
        }
    }
    Ok(out)
}

fn parse_lenient(s: &str) -> (Vec<Directive>, Vec<ParseError>) {
    let mut out = Vec::new();
    let mut invalid = Vec::new();
    for raw in s.split(',') {
        match parse_one(raw) {
            Ok(Some(d)) => out.push(d),
            Ok(None) => {}
            Err(e) => invalid.push(e),
        }
    }
    (out, invalid)
}

/// Whether `pattern` matches `name` entirely, or a `::`-boundary prefix of it.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    if glob(pattern.as_bytes(), name.as_bytes()) {
        return true;
    }
    name.match_indices("::")
        .any(|(i, _)| glob(pattern.as_bytes(), &name.as_bytes()[..i]))
}

/// `*` matches any run of bytes; everything else matches itself.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Reports invalid environment directives once, as a `tracing` warning, at
/// the first registration or registry access. Never called with the registry
/// lock held.
pub(crate) fn warn_invalid_once() {
    if WARNED.load(Ordering::Relaxed) || crate::registry::walking() {
        return;
    }
    let invalid: Vec<ParseError> = crate::registry::lock().control.invalid().to_vec();
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    for e in invalid {
        tracing::warn!(target: "instrument_once", "{e}; this directive is ignored, the others apply");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names_and_module_prefixes() {
        assert!(matches("my_app::db", "my_app::db::load"));
        assert!(matches("my_app::db::load", "my_app::db::load"));
        assert!(!matches("my_app::db", "my_app::dbx::load"));
        assert!(matches("*::hot_*", "my_app::db::hot_path"));
        assert!(!matches("*::hot_*", "my_app::db::cold"));
        assert!(matches("*", "a::b"));
        assert!(matches("my_*::db", "my_app::db::load"));
    }

    #[test]
    fn parse_rejects_bad_directives_and_names_them() {
        for bad in ["db", "+", "-a::", "+a::::b", "-9x", "+a b", "-a.b"] {
            let e = parse_strict(bad).unwrap_err();
            assert_eq!(e.directive(), bad.trim());
        }
        assert_eq!(
            parse_strict(" off , +a::b ,").unwrap(),
            vec![
                Directive::All(false),
                Directive::Pattern {
                    on: true,
                    pattern: "a::b".into()
                }
            ]
        );
        let (ok, bad) = parse_lenient("-a,zz,+b");
        assert_eq!(ok.len(), 2);
        assert_eq!(bad.len(), 1);
    }
}
