//! The Prometheus text exposition format (version 0.0.4).

use std::fmt::Write as _;

use super::families::{families, Family, Value};
use super::Snapshot;

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

/// `{a="x",b="y"}` with `extra` last (the text format's label set).
fn label_set(labels: &[(&'static str, String)], extra: Option<(&str, &str)>) -> String {
    let mut out = String::from("{");
    let all = labels.iter().map(|(k, v)| (*k, v.as_str())).chain(extra);
    for (i, (name, value)) in all.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape(value));
    }
    out.push('}');
    out
}

/// Writes the families in the text format.
fn render(out: &mut String, families: &[Family]) {
    for family in families {
        let name = family.name;
        let _ = writeln!(
            out,
            "# HELP {name} {}\n# TYPE {name} {}",
            family.help,
            family.kind.text()
        );
        for sample in &family.samples {
            match &sample.value {
                Value::Count(n) => {
                    let _ = writeln!(out, "{name}{} {n}", label_set(&sample.labels, None));
                }
                Value::Histogram(h) => {
                    let le = |bound: &str| label_set(&sample.labels, Some(("le", bound)));
                    for (bound, n) in &h.buckets {
                        let _ = writeln!(out, "{name}_bucket{} {n}", le(&bound.to_string()));
                    }
                    let _ = writeln!(out, "{name}_bucket{} {}", le("+Inf"), h.count);
                    let labels = label_set(&sample.labels, None);
                    let _ = writeln!(out, "{name}_sum{labels} {}", h.sum);
                    let _ = writeln!(out, "{name}_count{labels} {}", h.count);
                }
            }
        }
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
    /// for every site that records stats, and, once a request has called an
    /// instrumented function, `instrument_once_calls_per_request{request,
    /// function}` (histogram of a function's calls in one request) and
    /// `instrument_once_repeats_total{request, function}` (counter).
    /// [`Snapshot::to_prometheus_protobuf`] carries the same families.
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
        render(&mut out, &families(self));
        out
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
