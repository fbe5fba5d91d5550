//! The directives in force, where they came from, and what they decide for
//! a site. The environment variable is read once, at the first registry
//! access; [`crate::control::set`] replaces the directives.

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
    Default,
    Env,
    Api,
}

/// The directives in force.
pub(crate) struct Switches {
    env_read: bool,
    pub(crate) directives: Vec<Directive>,
    pub(crate) source: Source,
    invalid: Vec<ParseError>,
}

impl Switches {
    pub(crate) const UNREAD: Switches = Switches {
        env_read: false,
        directives: Vec::new(),
        source: Source::Default,
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
            self.directives = directives;
            self.invalid = invalid;
            self.source = Source::Env;
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
    let state = &inner.switches;
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

/// Replaces the directives in force and re-decides every site.
pub(crate) fn replace(directives: Vec<Directive>) {
    let mut inner = lock();
    inner.switches.directives = directives;
    inner.switches.source = Source::Api;
    for site in inner.sites.clone() {
        let (on, _) = decide(&inner, site);
        site.apply_enabled(on);
    }
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Reports invalid environment directives once, as a `tracing` warning, at
/// the first registration or registry access. Never called with the registry
/// lock held.
pub(crate) fn warn_invalid_once() {
    if WARNED.load(Ordering::Relaxed) || walking() {
        return;
    }
    let invalid: Vec<ParseError> = lock().switches.invalid().to_vec();
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    for e in invalid {
        tracing::warn!(target: "instrument_once", "{e}; this directive is ignored, the others apply");
    }
}
