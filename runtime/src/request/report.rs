//! The report: the book's figures with function names, for people (a
//! table), programs (`get`, serde) and Prometheus (`crate::export`).

use std::fmt;
use std::time::Duration;

use super::book::{book, CALLS_BOUNDS};
use crate::site::Site;
use crate::table::first_column_width;

/// One (request, function) pair's figures.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn hit() {}
/// # fn main() {
/// instrument_once::request::scope("job", || { hit(); hit(); });
/// let report = instrument_once::request::report();
/// let s = report.get("job", concat!(module_path!(), "::hit")).unwrap();
/// assert_eq!((s.requests, s.calls, s.max_calls, s.repeats), (1, 2, 2, 0));
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RequestStats {
    /// Requests of that name in which the function was called.
    pub requests: u64,
    /// Its calls in those requests.
    pub calls: u64,
    /// The most calls in one request.
    pub max_calls: u64,
    /// Calls whose `repeats_by` key equalled an earlier call's key in the
    /// same request.
    pub repeats: u64,
    /// The most repeats in one request.
    pub max_repeats: u64,
    /// The time the repeated calls took (those that were timed).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "nanos", rename = "repeat_time_ns")
    )]
    pub repeat_time: Duration,
}

#[cfg(feature = "serde")]
fn nanos<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One row of the report: a request name, a function, their figures.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn hit() {}
/// # fn main() {
/// instrument_once::request::scope("row-job", hit);
/// let report = instrument_once::request::report();
/// let row = report.rows().iter().find(|r| r.request == "row-job").unwrap();
/// assert_eq!(row.site.name(), "hit");
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RequestRow {
    /// The request's name.
    pub request: &'static str,
    /// The function.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "function", serialize_with = "qualified")
    )]
    pub site: &'static Site,
    /// The figures.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub stats: RequestStats,
    /// Requests by calls made in them: `per_request[i]` requests made at
    /// most `CALLS_BOUNDS[i]` calls (and more than the bound before; the
    /// last entry counts requests past every bound). For the Prometheus
    /// histogram.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub(crate) per_request: [u64; CALLS_BOUNDS.len() + 1],
}

#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref)] // serde hands a reference
fn qualified<S: serde::Serializer>(site: &&'static Site, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(site.qualified_name())
}

impl RequestRow {
    /// The cumulative calls-per-request histogram: `(upper bound, requests
    /// with at most that many calls)`, the last bound `None` (`+Inf`).
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn hit() {}
    /// # fn main() {
    /// instrument_once::request::scope("hist-job", || { hit(); hit(); });
    /// let report = instrument_once::request::report();
    /// let row = report.rows().iter().find(|r| r.request == "hist-job").unwrap();
    /// let buckets = row.calls_per_request();
    /// assert_eq!(buckets[0], (Some(1), 0));
    /// assert_eq!(buckets[1], (Some(2), 1));
    /// assert_eq!(buckets.last(), Some(&(None, 1)));
    /// # }
    /// ```
    pub fn calls_per_request(&self) -> Vec<(Option<u64>, u64)> {
        let mut seen = 0;
        CALLS_BOUNDS
            .iter()
            .map(|b| Some(*b))
            .chain([None])
            .zip(self.per_request)
            .map(|(bound, n)| {
                seen += n;
                (bound, seen)
            })
            .collect()
    }
}

/// Every (request, function) pair's figures, and what the bounds left out
/// (see [`report`]). `Display` prints a table.
///
/// ```
/// let report = instrument_once::request::report();
/// println!("{report}");
/// assert_eq!(report.refused_calls(), 0);
/// ```
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Report {
    rows: Vec<RequestRow>,
    requests: Vec<(&'static str, u64)>,
    refused_pairs: u64,
    refused_calls: u64,
    unslotted_calls: u64,
    unkeyed_calls: u64,
}

/// The per-request call profile so far (see the [module documentation](super)).
///
/// ```
/// #[instrument_once::instrument_once]
/// fn step() {}
/// # fn main() {
/// instrument_once::request::scope("batch", || { step(); step(); step(); });
/// let s = instrument_once::request::report()
///     .get("batch", concat!(module_path!(), "::step"))
///     .unwrap();
/// assert_eq!((s.requests, s.calls, s.max_calls), (1, 3, 3));
/// # }
/// ```
pub fn report() -> Report {
    // The sites after the book: a site the book names is listed by then.
    let book = book();
    let sites = crate::registry::sites_by_index();
    let mut rows: Vec<RequestRow> = book
        .requests
        .iter()
        .flat_map(|(request, named)| named.lines.iter().map(move |line| (*request, line)))
        .filter_map(|(request, (index, line))| {
            let site = *sites.get(usize::try_from(*index).ok()?)?;
            Some(RequestRow {
                request,
                site,
                stats: RequestStats {
                    requests: line.requests,
                    calls: line.calls,
                    max_calls: line.max_calls,
                    repeats: line.repeats,
                    max_repeats: line.max_repeats,
                    repeat_time: Duration::from_nanos(line.repeat_ns),
                },
                per_request: line.per_request,
            })
        })
        .collect();
    let mut requests: Vec<(&'static str, u64)> = book
        .requests
        .iter()
        .map(|(name, n)| (*name, n.ended))
        .collect();
    let report = Report {
        refused_pairs: book.refused_pairs,
        refused_calls: book.refused_calls,
        unslotted_calls: book.unslotted,
        unkeyed_calls: book.unkeyed,
        ..Report::default()
    };
    drop(book);
    rows.sort_by(|a, b| {
        (a.request, a.site.qualified_name(), a.site.line()).cmp(&(
            b.request,
            b.site.qualified_name(),
            b.site.line(),
        ))
    });
    requests.sort_unstable();
    Report {
        rows,
        requests,
        ..report
    }
}

impl Report {
    /// The figures of `function` (its qualified name, `module::path::fn`)
    /// in requests named `request`.
    ///
    /// ```
    /// assert!(instrument_once::request::report().get("no such request", "no::fn").is_none());
    /// ```
    pub fn get(&self, request: &str, function: &str) -> Option<RequestStats> {
        self.rows
            .iter()
            .find(|r| r.request == request && r.site.qualified_name() == function)
            .map(|r| r.stats)
    }

    /// One row per (request, function), sorted by request, then function.
    ///
    /// ```
    /// let report = instrument_once::request::report();
    /// assert!(report.rows().windows(2).all(|w| w[0].request <= w[1].request));
    /// ```
    pub fn rows(&self) -> &[RequestRow] {
        &self.rows
    }

    /// How many requests of each name ended (those that called no
    /// instrumented function included), sorted by name.
    ///
    /// ```
    /// instrument_once::request::scope("empty-job", || ());
    /// let report = instrument_once::request::report();
    /// assert!(report.requests().iter().any(|(name, n)| *name == "empty-job" && *n >= 1));
    /// ```
    pub fn requests(&self) -> &[(&'static str, u64)] {
        &self.requests
    }

    /// Calls of (request, function) pairs the report did not keep: past
    /// [`max_pairs`](super::max_pairs).
    ///
    /// ```
    /// assert_eq!(instrument_once::request::report().refused_calls(), 0);
    /// ```
    pub fn refused_calls(&self) -> u64 {
        self.refused_calls
    }

    /// How many (request, function) pairs were not kept (see
    /// [`Report::refused_calls`]); each request that met one counts it.
    ///
    /// ```
    /// assert_eq!(instrument_once::request::report().refused_pairs(), 0);
    /// ```
    pub fn refused_pairs(&self) -> u64 {
        self.refused_pairs
    }

    /// Calls not tallied because their request had already called 64
    /// other functions.
    ///
    /// ```
    /// assert_eq!(instrument_once::request::report().unslotted_calls(), 0);
    /// ```
    pub fn unslotted_calls(&self) -> u64 {
        self.unslotted_calls
    }

    /// Calls whose `repeats_by` key was not remembered because their
    /// request had already seen 192 other keys (they count as calls, never
    /// as repeats).
    ///
    /// ```
    /// assert_eq!(instrument_once::request::report().unkeyed_calls(), 0);
    /// ```
    pub fn unkeyed_calls(&self) -> u64 {
        self.unkeyed_calls
    }

    /// What the bounds left out, in words (empty when nothing).
    pub(crate) fn losses(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.refused_calls > 0 {
            out.push(format!(
                "{} calls of {} (request, function) pairs past the cap of {} pairs were not \
                 kept; raise it with request::set_max_pairs",
                self.refused_calls,
                self.refused_pairs,
                super::max_pairs()
            ));
        }
        if self.unslotted_calls > 0 {
            out.push(format!(
                "{} calls were not tallied: their request had called 64 other functions",
                self.unslotted_calls
            ));
        }
        if self.unkeyed_calls > 0 {
            out.push(format!(
                "{} calls' keys were not remembered: their request had seen 192 other keys",
                self.unkeyed_calls
            ));
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let request_width = self
            .rows
            .iter()
            .map(|r| r.request.chars().count())
            .max()
            .unwrap_or(0)
            .max("request".len());
        let width = first_column_width(self.rows.iter().map(|r| r.site.qualified_name()));
        writeln!(
            f,
            "{:<request_width$}  {:<width$}  {:>8} {:>8} {:>9} {:>8} {:>11} {:>12}",
            "request",
            crate::table::FIRST,
            "requests",
            "calls",
            "max calls",
            "repeats",
            "max repeats",
            "repeat time"
        )?;
        for r in &self.rows {
            let s = &r.stats;
            writeln!(
                f,
                "{:<request_width$}  {:<width$}  {:>8} {:>8} {:>9} {:>8} {:>11} {:>12}",
                r.request,
                r.site.qualified_name(),
                s.requests,
                s.calls,
                s.max_calls,
                s.repeats,
                s.max_repeats,
                if s.repeat_time.is_zero() {
                    "-".to_owned()
                } else {
                    format!("{:.1?}", s.repeat_time)
                }
            )?;
        }
        for loss in self.losses() {
            writeln!(f, "{loss}")?;
        }
        Ok(())
    }
}
