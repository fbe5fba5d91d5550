//! What the Prometheus expositions carry, once: the metric families of a
//! snapshot (and of the request report) as data, which the text format
//! ([`super::prometheus`]) and the protobuf format ([`super::protobuf`])
//! each only render. A new family is added here and appears in both.

use super::{ExponentialHistogram, Snapshot};
use crate::stats::Event;

/// A family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    /// The name the text format's `# TYPE` line gives it.
    pub(crate) fn text(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A histogram sample: classic cumulative buckets, and, for latencies, the
/// exact exponential buckets (native histograms).
#[derive(Clone, Debug)]
pub(crate) struct Histogram {
    pub(crate) count: u64,
    pub(crate) sum: f64,
    /// `(upper bound, cumulative count)`, lowest first, without `+Inf`
    /// (whose count is `count`).
    pub(crate) buckets: Vec<(f64, u64)>,
    /// The exponential buckets, in nanoseconds (latencies only).
    pub(crate) native: Option<ExponentialHistogram>,
}

/// A sample's value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// A counter's or a gauge's value.
    Count(u64),
    Histogram(Histogram),
}

/// One labelled sample.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    /// `(label name, value)`, unescaped.
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) value: Value,
}

/// One metric family.
#[derive(Clone, Debug)]
pub(crate) struct Family {
    /// The full name (a counter's ends in `_total`).
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) kind: Kind,
    pub(crate) samples: Vec<Sample>,
}

fn function(name: &str) -> Vec<(&'static str, String)> {
    vec![("function", name.to_owned())]
}

/// A family with one sample per site, labelled by function.
fn one_per_site(
    sites: &[&super::SiteSnapshot],
    name: &'static str,
    help: &'static str,
    kind: Kind,
    value: impl Fn(&crate::stats::Stats) -> u64,
) -> Family {
    Family {
        name,
        help,
        kind,
        samples: sites
            .iter()
            .map(|s| Sample {
                labels: function(&s.unique_name),
                value: Value::Count(value(&s.stats)),
            })
            .collect(),
    }
}

/// Every family of the snapshot (sites that record stats), then the request
/// families (only once a request has called an instrumented function).
pub(crate) fn families(snapshot: &Snapshot) -> Vec<Family> {
    let sites: Vec<_> = snapshot.sites.iter().filter(|s| s.records_stats).collect();
    let mut out = Vec::new();
    out.push(Family {
        name: "instrument_once_calls_total",
        help: "Finished calls of instrumented functions, by result.",
        kind: Kind::Counter,
        samples: sites
            .iter()
            .flat_map(|s| {
                Event::outcomes().map(|event| Sample {
                    labels: vec![
                        ("function", s.unique_name.clone()),
                        ("result", event.label().to_owned()),
                    ],
                    value: Value::Count(s.stats.count(event)),
                })
            })
            .collect(),
    });
    out.push(one_per_site(
        &sites,
        "instrument_once_in_flight",
        "Calls of instrumented functions started and not finished.",
        Kind::Gauge,
        |st| st.in_flight,
    ));
    out.push(one_per_site(
        &sites,
        "instrument_once_depth_overflows_total",
        "Calls past max_depth or the per-thread depth ceiling.",
        Kind::Counter,
        |st| st.count(Event::Overflow),
    ));
    out.push(Family {
        name: "instrument_once_duration_seconds",
        help: "Latency of instrumented calls that returned.",
        kind: Kind::Histogram,
        samples: sites
            .iter()
            .map(|s| Sample {
                labels: function(&s.unique_name),
                value: Value::Histogram(Histogram {
                    // The count of the buckets themselves, not the outcome
                    // counters': those are read apart from the buckets, so a
                    // call finishing in between would be in the buckets but
                    // not the count, and Prometheus refuses a histogram whose
                    // buckets hold more than its count (and, natively, any
                    // other count). Calls without a bucket (at the memory
                    // cap) are left out here; `calls_total` has them.
                    count: s.histogram.zero_count
                        + s.histogram.buckets.iter().map(|b| b.count).sum::<u64>(),
                    sum: s.stats.latency.sum.as_secs_f64(),
                    buckets: s
                        .latency_buckets
                        .iter()
                        .map(|b| (b.le_seconds, b.count))
                        .collect(),
                    native: Some(s.histogram.clone()),
                }),
            })
            .collect(),
    });
    hooks(&mut out, snapshot);
    requests(&mut out, &crate::request::report());
    out
}

/// `instrument_once_hook_layer_calls_total{slot, layer}` (none without a
/// layer). Two live slots of one name are one series: their layers' calls
/// are summed by key.
fn hooks(out: &mut Vec<Family>, snapshot: &Snapshot) {
    if snapshot.hooks.is_empty() {
        return;
    }
    let mut calls: std::collections::BTreeMap<(&str, &str), u64> =
        std::collections::BTreeMap::new();
    for h in &snapshot.hooks {
        *calls.entry((h.slot, h.layer.key)).or_default() += h.layer.calls;
    }
    out.push(Family {
        name: "instrument_once_hook_layer_calls_total",
        help: "Calls through each layer of each hook slot.",
        kind: Kind::Counter,
        samples: calls
            .into_iter()
            .map(|((slot, layer), n)| Sample {
                labels: vec![("slot", slot.to_owned()), ("layer", layer.to_owned())],
                value: Value::Count(n),
            })
            .collect(),
    });
}

/// The per-request call profile's families (none before any request
/// called an instrumented function):
///
/// * `instrument_once_calls_per_request{request, function}` (histogram of
///   the calls of the function in each request that called it),
/// * `instrument_once_repeats_total{request, function}` (counter of calls
///   whose `repeats_by` key repeated an earlier call's in their request).
fn requests(out: &mut Vec<Family>, report: &crate::request::Report) {
    let rows = report.rows();
    if rows.is_empty() {
        return;
    }
    // The same `function` label as the other families: two functions with
    // one qualified name are two series, not one label set twice.
    let sites = crate::registry::sites_by_index();
    let names = crate::registry::unique_names(&sites);
    let labels = |r: &crate::request::RequestRow| {
        let function = usize::try_from(r.site.index())
            .ok()
            .filter(|i| sites.get(*i).is_some_and(|s| std::ptr::eq(*s, r.site)))
            .map_or(r.site.qualified_name(), |i| names[i].as_str());
        vec![
            ("request", r.request.to_owned()),
            ("function", function.to_owned()),
        ]
    };
    #[allow(clippy::cast_precision_loss)] // counts below 2^53 are exact
    out.push(Family {
        name: "instrument_once_calls_per_request",
        help: "Calls of an instrumented function in one request.",
        kind: Kind::Histogram,
        samples: rows
            .iter()
            .map(|r| {
                let buckets: Vec<(f64, u64)> = r
                    .calls_per_request()
                    .into_iter()
                    .filter_map(|(bound, n)| Some((bound? as f64, n)))
                    .collect();
                Sample {
                    labels: labels(r),
                    value: Value::Histogram(Histogram {
                        count: r.stats.requests,
                        sum: r.stats.calls as f64,
                        buckets,
                        native: None,
                    }),
                }
            })
            .collect(),
    });
    out.push(Family {
        name: "instrument_once_repeats_total",
        help: "Calls whose key repeated an earlier call's in the same request.",
        kind: Kind::Counter,
        samples: rows
            .iter()
            .map(|r| Sample {
                labels: labels(r),
                value: Value::Count(r.stats.repeats),
            })
            .collect(),
    });
}
