//! "Why are my spans missing?": one verdict per instrumented function.
//!
//! [`diagnose()`] answers, for every site, whether its spans are being
//! recorded and, if not, the first reason that stops them, in this order:
//!
//! 1. [`Verdict::Disabled`]: switched off, and by what;
//! 2. [`Verdict::CalledOnlyWhileDisabled`]: calls came, but only while it
//!    was switched off (so none was counted or traced);
//!    [`Verdict::NeverCalled`]: no call has happened at all;
//! 3. [`Verdict::NoSubscriber`]: no global default subscriber and no scoped
//!    one on the calling thread;
//! 4. [`Verdict::FilteredOut`]: the subscriber does not want the span: the
//!    level is above its maximum, or at the function's last call its span
//!    came back disabled (a target or field filter said never);
//! 5. [`Verdict::Recording`].
//!
//! It creates no span and changes nothing: it reads each site's switch, a
//! "called" bit and a "filtered at the last call" bit that calls maintain,
//! and the current dispatcher's level hint.

use std::fmt;

use tracing::level_filters::LevelFilter;

use crate::registry::switches::{decide, unmatched, Reason, Source};
use crate::site::Site;
use crate::stats::{histogram_memory, HistogramMemory, Stats, ENV_HISTOGRAM_MEMORY};
use crate::table::{first_column_width, FIRST};

/// Who switched a site off.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn report() {}
/// # fn main() {
/// instrument_once::control::set(concat!("-", module_path!(), "::report")).unwrap();
/// let site = instrument_once::registry().get(concat!(module_path!(), "::report")).unwrap();
/// let instrument_once::Verdict::Disabled { by } = site.diagnose().verdict else { panic!() };
/// assert_eq!(by, instrument_once::DisabledBy::ApiDirective(concat!("-", module_path!(), "::report").into()));
/// assert!(by.to_string().contains("control::set or add"));
/// # instrument_once::control::set("").unwrap();
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisabledBy {
    /// The directive that matched last, from the `INSTRUMENT_ONCE`
    /// environment variable.
    EnvDirective(String),
    /// The directive that matched last, from [`crate::control::set`] or
    /// [`crate::control::add`].
    ApiDirective(String),
    /// [`Site::set_enabled`]`(false)`.
    SiteSwitch,
}

impl fmt::Display for DisabledBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisabledBy::EnvDirective(d) => {
                write!(f, "directive `{d}` from {}", crate::control::ENV_VAR)
            }
            DisabledBy::ApiDirective(d) => {
                write!(f, "directive `{d}` from the program (control::set or add)")
            }
            DisabledBy::SiteSwitch => f.write_str("Site::set_enabled(false)"),
        }
    }
}

/// Whether a function's spans are recorded, and if not, why.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn handler() {}
/// # fn main() {
/// let site = instrument_once::registry().get(concat!(module_path!(), "::handler")).unwrap();
/// assert_eq!(site.diagnose().verdict, instrument_once::Verdict::NeverCalled);
/// handler();
/// let subscriber = tracing_subscriber::fmt().with_writer(std::io::sink).finish();
/// tracing::subscriber::with_default(subscriber, || {
///     handler();
///     assert_eq!(site.diagnose().verdict, instrument_once::Verdict::Recording);
/// });
/// assert_eq!(site.diagnose().verdict.to_string(), "no subscriber installed");
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Spans are created and the subscriber records them.
    Recording,
    /// No instrumented call has happened yet.
    NeverCalled,
    /// Calls came only while the function was switched off: none was
    /// counted or traced. (Switched on since, it has not been called.)
    CalledOnlyWhileDisabled,
    /// Instrumentation of the function is switched off.
    Disabled {
        /// The switch that did it.
        by: DisabledBy,
    },
    /// No subscriber: no global default, and no scoped one on this thread.
    NoSubscriber,
    /// The subscriber does not record spans of this function.
    FilteredOut {
        /// The span's level.
        level: tracing::Level,
        /// The subscriber's maximum level, when it says.
        max: Option<LevelFilter>,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Recording => f.write_str("recording"),
            Verdict::NeverCalled => f.write_str("never called"),
            Verdict::CalledOnlyWhileDisabled => {
                f.write_str("called only while disabled (those calls were not counted)")
            }
            Verdict::Disabled { by } => write!(f, "disabled by {by}"),
            Verdict::NoSubscriber => f.write_str("no subscriber installed"),
            Verdict::FilteredOut {
                level,
                max: Some(max),
            } => {
                write!(
                    f,
                    "filtered out: level {level} is above the subscriber's max {max}"
                )
            }
            Verdict::FilteredOut { level, max: None } => {
                write!(
                    f,
                    "filtered out: the subscriber did not record the {level} span at the last call"
                )
            }
        }
    }
}

/// The diagnosis of one function.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn quiet() {}
/// # fn main() {
/// let site = instrument_once::registry().get(concat!(module_path!(), "::quiet")).unwrap();
/// assert_eq!(site.diagnose().verdict, instrument_once::Verdict::NeverCalled);
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Diagnosis {
    /// The function (JSON: `function`, its unique name).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "function", serialize_with = "unique_name")
    )]
    pub site: &'static Site,
    /// Whether its spans are recorded, and if not, why.
    pub verdict: Verdict,
    /// Its statistics.
    pub stats: Stats,
}

/// The diagnosis of every function, plus the invalid directives found in
/// the environment; `Display` prints a table.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn quiet() {}
/// # fn main() {
/// let report = instrument_once::diagnose();
/// println!("{report}");
/// assert!(report.sites().iter().any(|d| d.site.name() == "quiet"));
/// # }
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Report {
    // Each entry as `Diagnosis` serialises alone, with the unique names
    // worked out once for the whole list (a lone `Diagnosis` works out its
    // own against the registry, which is a pass over it per entry).
    #[cfg_attr(feature = "serde", serde(serialize_with = "diagnoses"))]
    sites: Vec<Diagnosis>,
    #[cfg_attr(feature = "serde", serde(rename = "invalid_directives"))]
    invalid: Vec<crate::control::ParseError>,
    #[cfg_attr(
        feature = "serde",
        serde(rename = "unmatched_directives", serialize_with = "directives_only")
    )]
    unmatched: Vec<(String, Source)>,
    histogram_memory: HistogramMemory,
}

impl Report {
    /// One diagnosis per site, sorted by qualified name.
    ///
    /// ```
    /// assert!(instrument_once::diagnose().sites().len() <= instrument_once::registry().sites().len());
    /// ```
    pub fn sites(&self) -> &[Diagnosis] {
        &self.sites
    }

    /// Invalid directives of the `INSTRUMENT_ONCE` environment variable,
    /// which were ignored.
    ///
    /// ```
    /// assert!(instrument_once::diagnose().invalid_directives().is_empty());
    /// ```
    pub fn invalid_directives(&self) -> &[crate::control::ParseError] {
        &self.invalid
    }

    /// Directives in force whose pattern matches no registered function
    /// (patterns are case-sensitive; a misspelt one switches nothing).
    ///
    /// ```
    /// instrument_once::control::set("-No::Such::Module").unwrap();
    /// let report = instrument_once::diagnose();
    /// assert_eq!(report.unmatched_directives(), ["-No::Such::Module"]);
    /// assert!(report.to_string().contains("matches no instrumented function"));
    /// instrument_once::control::set("").unwrap();
    /// ```
    pub fn unmatched_directives(&self) -> Vec<&str> {
        self.unmatched.iter().map(|(d, _)| d.as_str()).collect()
    }

    /// The latency histograms' memory, its cap, and what the cap refused.
    /// When it refused any, `Display` says so, with how many timed calls
    /// have no bucket (see [`crate::set_histogram_memory_cap`]).
    ///
    /// ```
    /// let memory = instrument_once::diagnose().histogram_memory();
    /// assert_eq!(memory.cap, instrument_once::histogram_memory().cap);
    /// ```
    pub fn histogram_memory(&self) -> HistogramMemory {
        self.histogram_memory
    }
}

/// Why each instrumented function's spans are, or are not, being recorded.
/// Cheap and free of side effects: no span is created to find out.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn handler() {}
///
/// # fn main() {
/// handler(); // no subscriber is installed in this example
/// let report = instrument_once::diagnose();
/// let d = report.sites().iter().find(|d| d.site.name() == "handler").unwrap();
/// assert_eq!(d.verdict, instrument_once::Verdict::NoSubscriber);
/// # }
/// ```
pub fn diagnose() -> Report {
    let sites = crate::registry()
        .sites()
        .into_iter()
        .map(Site::diagnose)
        .collect();
    let (invalid, unmatched) = {
        let inner = crate::registry::lock();
        (inner.switches.invalid().to_vec(), unmatched(&inner))
    };
    Report {
        sites,
        invalid,
        unmatched,
        histogram_memory: histogram_memory(),
    }
}

impl Site {
    /// Why this function's spans are, or are not, being recorded (see
    /// [`diagnose()`]).
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn handler() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::handler")).unwrap();
    /// site.set_enabled(false);
    /// assert_eq!(
    ///     site.diagnose().verdict,
    ///     instrument_once::Verdict::Disabled { by: instrument_once::DisabledBy::SiteSwitch }
    /// );
    /// # }
    /// ```
    pub fn diagnose(&'static self) -> Diagnosis {
        let ctl = self.ensure_registered();
        Diagnosis {
            site: self,
            verdict: self.verdict(ctl),
            stats: self.stats(),
        }
    }

    fn verdict(&'static self, ctl: u32) -> Verdict {
        if ctl & Site::ENABLED == 0 {
            let reason = decide(&crate::registry::lock(), self).1;
            let by = match reason {
                Reason::Directive(d, Source::Env) => DisabledBy::EnvDirective(d),
                Reason::Directive(d, _) => DisabledBy::ApiDirective(d),
                Reason::Api | Reason::Default => DisabledBy::SiteSwitch,
            };
            return Verdict::Disabled { by };
        }
        if ctl & Site::CALLED == 0 {
            return if ctl & Site::CALLED_OFF == 0 {
                Verdict::NeverCalled
            } else {
                Verdict::CalledOnlyWhileDisabled
            };
        }
        let none = tracing::dispatcher::get_default(
            tracing::Dispatch::is::<tracing_core::subscriber::NoSubscriber>,
        );
        if none {
            return Verdict::NoSubscriber;
        }
        let level = self.level();
        // The most verbose level any live subscriber wants.
        let max = LevelFilter::current();
        if max < level {
            return Verdict::FilteredOut {
                level,
                max: Some(max),
            };
        }
        if ctl & Site::FILTERED != 0 {
            return Verdict::FilteredOut { level, max: None };
        }
        Verdict::Recording
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sites: Vec<&'static Site> = self.sites.iter().map(|d| d.site).collect();
        let names = crate::registry::unique_names(&sites);
        let width = first_column_width(names.iter().map(String::as_str));
        writeln!(
            f,
            "{:<width$}  {:>8} {:>7}  verdict",
            FIRST, "calls", "errors"
        )?;
        for (d, name) in self.sites.iter().zip(&names) {
            writeln!(
                f,
                "{:<width$}  {:>8} {:>7}  {}",
                name, d.stats.calls, d.stats.errors, d.verdict
            )?;
        }
        for e in &self.invalid {
            writeln!(f, "ignored: {e}")?;
        }
        for (d, source) in &self.unmatched {
            let from = match source {
                Source::Env => crate::control::ENV_VAR,
                Source::Api => "the program",
            };
            writeln!(
                f,
                "directive `{d}` (from {from}) matches no instrumented function \
                 (patterns are case-sensitive `::` paths)"
            )?;
        }
        for loss in crate::request::report().losses() {
            writeln!(f, "request profile: {loss}")?;
        }
        let memory = self.histogram_memory;
        if memory.refused > 0 {
            let unbucketed: u64 = self.sites.iter().map(|d| d.stats.latency.unbucketed).sum();
            writeln!(
                f,
                "histogram memory at its cap ({} of {} bytes): {} allocations refused, \
                 {unbucketed} timed calls counted without a bucket; raise it with \
                 set_histogram_memory_cap or {}",
                memory.used, memory.cap, memory.refused, ENV_HISTOGRAM_MEMORY,
            )?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn unique_name<S: serde::Serializer>(site: &&'static Site, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&site.unique_name())
}

#[cfg(feature = "serde")]
fn diagnoses<S: serde::Serializer>(sites: &[Diagnosis], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    /// A [`Diagnosis`]'s fields, in its order, with the name given.
    #[derive(serde::Serialize)]
    #[serde(rename = "Diagnosis")]
    struct Named<'a> {
        function: &'a str,
        verdict: &'a Verdict,
        stats: &'a Stats,
    }
    let list: Vec<&'static Site> = sites.iter().map(|d| d.site).collect();
    let names = crate::registry::unique_names(&list);
    let mut seq = s.serialize_seq(Some(sites.len()))?;
    for (d, name) in sites.iter().zip(&names) {
        seq.serialize_element(&Named {
            function: name,
            verdict: &d.verdict,
            stats: &d.stats,
        })?;
    }
    seq.end()
}

#[cfg(feature = "serde")]
#[allow(clippy::ptr_arg)] // serde's signature
fn directives_only<S: serde::Serializer>(
    unmatched: &Vec<(String, Source)>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(unmatched.iter().map(|(d, _)| d))
}

/// A verdict in JSON: `{"verdict": "disabled", "detail": "directive ..."}`,
/// `verdict` one of `recording`, `never_called`,
/// `called_only_while_disabled`, `disabled`, `no_subscriber`,
/// `filtered_out`, and `detail` what `Display` says.
#[cfg(feature = "serde")]
impl serde::Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let kind = match self {
            Verdict::Recording => "recording",
            Verdict::NeverCalled => "never_called",
            Verdict::CalledOnlyWhileDisabled => "called_only_while_disabled",
            Verdict::Disabled { .. } => "disabled",
            Verdict::NoSubscriber => "no_subscriber",
            Verdict::FilteredOut { .. } => "filtered_out",
        };
        let mut out = s.serialize_struct("Verdict", 2)?;
        out.serialize_field("verdict", kind)?;
        out.serialize_field("detail", &self.to_string())?;
        out.end()
    }
}
