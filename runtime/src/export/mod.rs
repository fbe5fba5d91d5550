//! Snapshots of the whole registry and their exports: an aligned table
//! (`Display`), the Prometheus text exposition format, and JSON through
//! `serde` (feature `serde`).

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::hook::HookLayer;

use crate::registry::Registry;
use crate::site::Site;
use crate::stats::Stats;
use crate::table::{first_column_width, FIRST};

mod buckets;
mod classic;
mod families;
mod prometheus;
mod protobuf;

pub(crate) use protobuf::CONTENT_TYPE as PROTOBUF_CONTENT_TYPE;

pub use buckets::{ExponentialBucket, ExponentialHistogram, LatencyBucket};
pub use classic::{set_classic_bounds, set_classic_bounds_for, ClassicBounds, InvalidBounds};

/// One function in a [`Snapshot`].
///
/// ```
/// #[instrument_once::instrument_once]
/// fn work() {}
/// # fn main() {
/// work();
/// let snap = instrument_once::registry().snapshot();
/// let me = snap.sites().iter().find(|s| s.name == "work").unwrap();
/// assert_eq!(me.stats.calls, 1);
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SiteSnapshot {
    /// Span name.
    pub name: &'static str,
    /// `module::path::fn` (or `module::path::Type::fn`).
    pub qualified_name: &'static str,
    /// The qualified name, with the function's place when another function
    /// has the same one (see [`Site::unique_name`]): the `function` label of
    /// the Prometheus export and the name in the table.
    pub unique_name: String,
    /// Module of the function.
    pub module_path: &'static str,
    /// Source file.
    pub file: &'static str,
    /// Line of the attribute.
    pub line: u32,
    /// Whether instrumentation is on.
    pub enabled: bool,
    /// Whether the site records stats (`stats = false` turns them off).
    pub records_stats: bool,
    /// The statistics.
    pub stats: Stats,
    /// Cumulative latency buckets at the classic bounds (see
    /// [`LatencyBucket`]), without `+Inf` (whose count is the calls with a
    /// bucket: `stats.latency.count` less `stats.latency.unbucketed`, read
    /// a moment apart).
    pub latency_buckets: Vec<LatencyBucket>,
    /// The latencies in their exact exponential buckets.
    pub histogram: ExponentialHistogram,
}

/// Every site's statistics at one moment; `Display` prints an aligned table.
/// With the `serde` feature it serialises as `{"taken_at_unix_ms": ..,
/// "sites": [...], "hooks": [...]}`.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn work() {}
/// # fn main() {
/// work();
/// let table = instrument_once::registry().snapshot().to_string();
/// assert!(table.lines().next().unwrap().starts_with("function"));
/// assert!(table.contains("::work"));
/// # }
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Snapshot {
    /// When it was taken (JSON: `taken_at_unix_ms`).
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "taken_at_unix_ms",
            serialize_with = "crate::clock::serialize_unix_ms"
        )
    )]
    taken_at: SystemTime,
    sites: Vec<SiteSnapshot>,
    /// Every layer of every live hook slot, with its calls.
    hooks: Vec<HookLayer>,
}

impl Snapshot {
    /// When the snapshot was taken (wall clock).
    ///
    /// ```
    /// let snap = instrument_once::registry().snapshot();
    /// assert!(snap.taken_at() <= std::time::SystemTime::now());
    /// ```
    pub fn taken_at(&self) -> SystemTime {
        self.taken_at
    }

    /// Every layer of every live [`HookSlot`](crate::hook::HookSlot) when the
    /// snapshot was taken, with how often each ran (as
    /// [`crate::hook::hooks`]); the table, JSON and Prometheus exports carry
    /// them too.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot = instrument_once::hook::HookSlot::new("db::on_query", |q: u32| q);
    /// slot.wrap_once("audit", |inner| Arc::new(move |q| inner(q)));
    /// slot.call(1);
    /// let snap = instrument_once::registry().snapshot();
    /// let audit = snap.hooks().iter().find(|h| h.slot == "db::on_query").unwrap();
    /// assert_eq!((audit.layer.key, audit.layer.calls), ("audit", 1));
    /// assert!(snap.to_string().contains("db::on_query"));
    /// ```
    pub fn hooks(&self) -> &[HookLayer] {
        &self.hooks
    }

    /// The sites, sorted by qualified name.
    ///
    /// ```
    /// let snap = instrument_once::registry().snapshot();
    /// assert!(snap.sites().windows(2).all(|w| w[0].qualified_name <= w[1].qualified_name));
    /// ```
    pub fn sites(&self) -> &[SiteSnapshot] {
        &self.sites
    }
}

impl Registry {
    /// A snapshot of every site's statistics.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn work() {}
    /// # fn main() {
    /// work();
    /// let snap = instrument_once::registry().snapshot();
    /// println!("{snap}");
    /// println!("{}", snap.to_prometheus());
    /// # }
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        let sites = self.sites();
        let names = crate::registry::unique_names(&sites);
        let sites = sites
            .into_iter()
            .zip(names)
            .map(|(site, unique_name): (&'static Site, String)| {
                let (stats, buckets) = site.stats.snapshot_with_buckets(site.meta.config.timing);
                SiteSnapshot {
                    name: site.name(),
                    qualified_name: site.qualified_name(),
                    unique_name,
                    module_path: site.module_path(),
                    file: site.file(),
                    line: site.line(),
                    enabled: site.is_enabled(),
                    records_stats: site.records_stats(),
                    stats,
                    latency_buckets: classic::classic(&buckets, &classic::layout_of(site)),
                    histogram: ExponentialHistogram::of(&buckets),
                }
            })
            .collect();
        Snapshot {
            taken_at: SystemTime::now(),
            sites,
            hooks: crate::hook::hooks(),
        }
    }
}

/// A duration in the unit that keeps 3 significant digits readable.
pub(crate) struct Human(pub(crate) Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        #[allow(clippy::cast_precision_loss)]
        let v = ns as f64;
        let s = if ns == 0 {
            "-".to_owned()
        } else if ns < 1_000 {
            format!("{ns}ns")
        } else if ns < 1_000_000 {
            format!("{:.1}µs", v / 1e3)
        } else if ns < 1_000_000_000 {
            format!("{:.1}ms", v / 1e6)
        } else {
            format!("{:.2}s", v / 1e9)
        };
        f.pad(&s)
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .sites
            .iter()
            .map(|s| {
                if s.enabled {
                    s.unique_name.clone()
                } else {
                    format!("{} (off)", s.unique_name)
                }
            })
            .collect();
        let width = first_column_width(names.iter().map(String::as_str));
        writeln!(
            f,
            "{:<width$}  {:>8} {:>8} {:>7} {:>7} {:>6} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
            FIRST,
            "calls",
            "ok",
            "errors",
            "panics",
            "cancel",
            "in-flight",
            "deepest",
            "overflows",
            "p50",
            "p99",
            "max"
        )?;
        for (s, name) in self.sites.iter().zip(&names) {
            let st = &s.stats;
            writeln!(
                f,
                "{:<width$}  {:>8} {:>8} {:>7} {:>7} {:>6} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
                name,
                st.calls,
                st.ok,
                st.errors,
                st.panics,
                st.cancelled,
                st.in_flight,
                st.deepest,
                st.depth_overflows,
                Human(st.latency.p50),
                Human(st.latency.p99),
                Human(st.latency.max)
            )?;
        }
        if !self.hooks.is_empty() {
            let width = first_column_width(self.hooks.iter().map(|h| h.slot));
            writeln!(f)?;
            writeln!(
                f,
                "{:<width$}  {:<16} {:>10}  added at",
                "hook", "layer", "calls"
            )?;
            for h in &self.hooks {
                writeln!(
                    f,
                    "{:<width$}  {:<16} {:>10}  {}",
                    h.slot, h.layer.key, h.layer.calls, h.layer.location
                )?;
            }
        }
        Ok(())
    }
}
