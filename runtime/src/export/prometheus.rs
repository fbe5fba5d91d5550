//! The Prometheus text exposition format (version 0.0.4).

use std::fmt::Write as _;

use super::Snapshot;
use crate::stats::Event;

/// Escapes a label value: backslash, double quote and line feed.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A metric family with one sample per site.
fn one_per_site(
    out: &mut String,
    sites: &[&super::SiteSnapshot],
    name: &str,
    help: &str,
    kind: &str,
    value: impl Fn(&crate::stats::Stats) -> u64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for s in sites {
        let _ = writeln!(
            out,
            "{name}{{function=\"{}\"}} {}",
            escape(&s.unique_name),
            value(&s.stats)
        );
    }
}

impl Snapshot {
    /// The snapshot in the Prometheus text exposition format:
    ///
    /// * `instrument_once_calls_total{function, result}` (counter; `result`
    ///   is `ok`, `error`, `panic` or `cancelled`),
    /// * `instrument_once_in_flight{function}` (gauge),
    /// * `instrument_once_depth_overflows_total{function}` (counter),
    /// * `instrument_once_duration_seconds{function}` (histogram of the calls
    ///   that returned with timing on),
    ///
    /// for every site that records stats.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn work() {}
    /// # fn main() {
    /// work();
    /// let text = instrument_once::registry().snapshot().to_prometheus();
    /// assert!(text.contains("# TYPE instrument_once_calls_total counter"));
    /// assert!(text.contains("result=\"ok\"} 1"));
    /// # }
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let sites: Vec<_> = self.sites.iter().filter(|s| s.records_stats).collect();
        let _ = writeln!(
            out,
            "# HELP instrument_once_calls_total Finished calls of instrumented functions, by result.\n\
             # TYPE instrument_once_calls_total counter"
        );
        for s in &sites {
            let f = escape(&s.unique_name);
            let st = &s.stats;
            for event in Event::outcomes() {
                let _ = writeln!(
                    out,
                    "instrument_once_calls_total{{function=\"{f}\",result=\"{}\"}} {}",
                    event.label(),
                    st.count(event)
                );
            }
        }
        one_per_site(
            &mut out,
            &sites,
            "instrument_once_in_flight",
            "Calls of instrumented functions started and not finished.",
            "gauge",
            |st| st.in_flight,
        );
        one_per_site(
            &mut out,
            &sites,
            "instrument_once_depth_overflows_total",
            "Calls past max_depth or the per-thread depth ceiling.",
            "counter",
            |st| st.count(Event::Overflow),
        );
        let _ = writeln!(
            out,
            "# HELP instrument_once_duration_seconds Latency of instrumented calls that returned.\n\
             # TYPE instrument_once_duration_seconds histogram"
        );
        for s in &sites {
            let f = escape(&s.unique_name);
            for b in &s.latency_buckets {
                let _ = writeln!(
                    out,
                    "instrument_once_duration_seconds_bucket{{function=\"{f}\",le=\"{}\"}} {}",
                    b.le_seconds, b.count
                );
            }
            let l = &s.stats.latency;
            let _ = writeln!(
                out,
                "instrument_once_duration_seconds_bucket{{function=\"{f}\",le=\"+Inf\"}} {}",
                l.count
            );
            let _ = writeln!(
                out,
                "instrument_once_duration_seconds_sum{{function=\"{f}\"}} {}",
                l.sum.as_secs_f64()
            );
            let _ = writeln!(
                out,
                "instrument_once_duration_seconds_count{{function=\"{f}\"}} {}",
                l.count
            );
        }
        requests(&mut out, &crate::request::report());
        out
    }
}

/// The per-request call profile's families (none before any request
/// called an instrumented function):
///
/// * `instrument_once_calls_per_request{request, function}` (histogram of
///   the calls of the function in each request that called it),
/// * `instrument_once_repeats_total{request, function}` (counter of calls
///   whose `repeats_by` key repeated an earlier call's in their request).
fn requests(out: &mut String, report: &crate::request::Report) {
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
        format!(
            "request=\"{}\",function=\"{}\"",
            escape(r.request),
            escape(function)
        )
    };
    let _ = writeln!(
        out,
        "# HELP instrument_once_calls_per_request Calls of an instrumented function in one request.\n\
         # TYPE instrument_once_calls_per_request histogram"
    );
    for r in rows {
        let l = labels(r);
        for (bound, n) in r.calls_per_request() {
            let le = bound.map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(
                out,
                "instrument_once_calls_per_request_bucket{{{l},le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "instrument_once_calls_per_request_sum{{{l}}} {}",
            r.stats.calls
        );
        let _ = writeln!(
            out,
            "instrument_once_calls_per_request_count{{{l}}} {}",
            r.stats.requests
        );
    }
    let _ = writeln!(
        out,
        "# HELP instrument_once_repeats_total Calls whose key repeated an earlier call's in the same request.\n\
         # TYPE instrument_once_repeats_total counter"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "instrument_once_repeats_total{{{}}} {}",
            labels(r),
            r.stats.repeats
        );
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }
}
