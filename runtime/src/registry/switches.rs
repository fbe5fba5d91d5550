//! The directives in force, where each came from, and what they decide for
//! a site. The environment variable is read once, at the first registry
//! access; [`crate::control::set`] replaces the directives,
//! [`crate::control::add`] and [`crate::control::remove`] change them.
//! Each directive keeps its own source, so a diagnosis names the right one.

use std::sync::atomic::{AtomicBool, Ordering};

use super::list::{lock, walking, Inner};
use crate::depth::{set_max_total_depth, ENV_MAX_TOTAL_DEPTH};
use crate::directives::{matches, parse_lenient, Directive, ParseError, ENV_VAR};
use crate::site::Site;
use crate::stats::memory::parse_cap;
use crate::stats::{set_histogram_memory_cap, ENV_HISTOGRAM_MEMORY};

/// Where the directives in force came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Env,
    Api,
}

/// The directives in force, in order (the last that matches decides), each
/// with where it came from.
pub(crate) struct Switches {
    env_read: bool,
    pub(crate) directives: Vec<(Directive, Source)>,
    invalid: Vec<ParseError>,
}

impl Switches {
    pub(crate) const UNREAD: Switches = Switches {
        env_read: false,
        directives: Vec::new(),
        invalid: Vec::new(),
    };

    /// Reads the environment, the first time.
    pub(crate) fn read_env(&mut self) {
        if self.env_read {
            return;
        }
        self.env_read = true;
        if let Ok(value) = std::env::var(ENV_VAR) {
            let (directives, invalid) = parse_lenient(&value);
            self.directives = directives.into_iter().map(|d| (d, Source::Env)).collect();
            self.invalid = invalid;
        }
        if let Ok(value) = std::env::var(ENV_MAX_TOTAL_DEPTH) {
            match value.trim().parse::<u32>() {
                Ok(n) => set_max_total_depth(n),
                Err(_) => self.invalid.push(ParseError {
                    directive: format!("{ENV_MAX_TOTAL_DEPTH}={value}"),
                    reason: "not a whole number",
                    expected: "expected the most nested instrumented calls per thread, e.g. 64",
                }),
            }
        }
        if let Ok(value) = std::env::var(ENV_HISTOGRAM_MEMORY) {
            match parse_cap(&value) {
                Some(bytes) => set_histogram_memory_cap(bytes),
                None => self.invalid.push(ParseError {
                    directive: format!("{ENV_HISTOGRAM_MEMORY}={value}"),
                    reason: "not a size",
                    expected: "expected a number of bytes, optionally with a KiB, MiB or GiB suffix, e.g. 64MiB",
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
    let name = site.qualified_name();
    inner
        .switches
        .directives
        .iter()
        .rev()
        .find(|(d, _)| applies(d, name))
        .map_or((true, Reason::Default), |(d, source)| {
            let on = match d {
                Directive::All(on) | Directive::Pattern { on, .. } => *on,
            };
            (on, Reason::Directive(d.to_string(), *source))
        })
}

/// Whether a directive applies to the function with this qualified name.
pub(crate) fn applies(directive: &Directive, name: &str) -> bool {
    match directive {
        Directive::All(_) => true,
        Directive::Pattern { pattern, .. } => matches(pattern, name),
    }
}

/// Changes the directives in force with `change` and re-decides every
/// site.
pub(crate) fn change<R>(change: impl FnOnce(&mut Vec<(Directive, Source)>) -> R) -> R {
    let mut inner = lock();
    let out = change(&mut inner.switches.directives);
    for site in inner.sites.clone() {
        let (on, _) = decide(&inner, site);
        site.apply_enabled(on);
    }
    out
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Reports invalid environment directives once, as a `tracing` warning, at
/// the first registration or registry access. Never called with the registry
/// lock held.
pub(crate) fn warn_invalid_once() {
    if WARNED.load(Ordering::Relaxed) || walking() {
        return;
    }
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    // With the static registry every function can be listed before the
    // first call: a pattern that matches none of them matches nothing.
    // Listing them all is start-up work, done only when the environment
    // gave a pattern to check. (`unmatched` says nothing without the
    // static registry: functions are listed from their first call.)
    let patterns = lock()
        .switches
        .directives
        .iter()
        .any(|(d, _)| matches!(d, Directive::Pattern { .. }));
    if patterns && cfg!(feature = "static-registry") {
        super::list::register_static_sites();
    }
    let (invalid, unmatched) = {
        let inner = lock();
        let unmatched: Vec<String> = unmatched(&inner).into_iter().map(|(d, _)| d).collect();
        (inner.switches.invalid().to_vec(), unmatched)
    };
    for e in invalid {
        tracing::warn!(target: "instrument_once", "{e}; this directive is ignored, the others apply");
    }
    for d in unmatched {
        tracing::warn!(
            target: "instrument_once",
            directive = %d,
            "directive `{d}` of {ENV_VAR} matches no instrumented function (patterns are \
             case-sensitive `::` paths; registry().sites() lists the names)"
        );
    }
}

/// The directives in force that match no registered function, with their
/// sources.
pub(crate) fn unmatched(inner: &Inner) -> Vec<(String, Source)> {
    inner
        .switches
        .directives
        .iter()
        .filter(|(d, _)| matches_nothing(d, &inner.sites))
        .map(|(d, source)| (d.to_string(), *source))
        .collect()
}

/// Whether `directive` is a pattern that matches none of `sites` (every
/// registered function). Never with the static registry off: functions
/// not called yet are unknown then, so any pattern could look unmatched.
pub(crate) fn matches_nothing(directive: &Directive, sites: &[&'static Site]) -> bool {
    cfg!(feature = "static-registry")
        && matches!(directive, Directive::Pattern { .. })
        && !sites.iter().any(|s| applies(directive, s.qualified_name()))
}
