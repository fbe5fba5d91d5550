//! Spans into OpenTelemetry: the same functions instrumented with
//! `#[instrument_once]` and with `#[tracing::instrument]`, run through
//! `tracing-opentelemetry` into `opentelemetry_sdk`'s in-memory exporter,
//! export the same spans: names, attributes, events, status on error, and
//! parent/child links (sync, async, nested). Only what must differ is set
//! aside: source lines, thread ids, timings, and the two modules' names.
#![allow(missing_docs, clippy::missing_errors_doc)]

use std::collections::HashMap;

use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt as _;

/// The functions, twice: `ours` and `theirs` differ only in the attribute.
macro_rules! twin {
    ($module:ident, $attr:path) => {
        pub mod $module {
            #[$attr(err, fields(table = "orders"))]
            pub fn lookup(id: u64) -> Result<u64, String> {
                if id == 13 {
                    Err(format!("no order {id}"))
                } else {
                    Ok(id * 2)
                }
            }

            #[$attr(fields(user = %user), skip(token))]
            pub fn handle(user: &str, token: &str, id: u64) -> u64 {
                tracing::info!(id, "handling");
                lookup(id).unwrap_or(0) + token.len() as u64
            }

            #[$attr(err, ret)]
            pub async fn fetch(id: u64) -> Result<u64, String> {
                let doubled = lookup(id)?;
                Ok(doubled + 1)
            }

            #[$attr(name = "checkout.run", level = "info", ret)]
            pub fn checkout(ids: &[u64]) -> usize {
                ids.iter().filter(|id| lookup(**id).is_ok()).count()
            }
        }
    };
}

twin!(ours, instrument_once::instrument_once);
twin!(theirs, tracing::instrument);

/// A span as compared: what must be equal.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    name: String,
    /// The parent's name and attributes: which instance of it, not only
    /// which function (a lookup under the wrong `handle` call differs).
    parent: Option<(String, Vec<(String, String)>)>,
    attributes: Vec<(String, String)>,
    events: Vec<(String, Vec<(String, String)>)>,
    status: String,
}

fn normalise(text: &str) -> String {
    text.replace("::ours", "::X").replace("::theirs", "::X")
}

/// Attributes that differ between any two functions, or runs.
fn comparable(key: &str) -> bool {
    !matches!(
        key,
        "code.lineno" | "code.line.number" | "thread.id" | "thread.name" | "busy_ns" | "idle_ns"
    )
}

fn value(v: &Value) -> String {
    normalise(&v.to_string())
}

/// Key-value pairs as compared: sorted, without what must differ.
fn comparable_pairs(pairs: &[KeyValue]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .filter(|kv| comparable(kv.key.as_str()))
        .map(|kv| (kv.key.to_string(), value(&kv.value)))
        .collect();
    out.sort();
    out
}

fn seen(spans: &[SpanData]) -> Vec<Seen> {
    let by_id: HashMap<_, _> = spans
        .iter()
        .map(|s| {
            let identity = (normalise(&s.name), comparable_pairs(&s.attributes));
            (s.span_context.span_id(), identity)
        })
        .collect();
    let mut out: Vec<Seen> = spans
        .iter()
        .map(|s| {
            let attributes = comparable_pairs(&s.attributes);
            let events = s
                .events
                .iter()
                .map(|e| {
                    let fields = comparable_pairs(&e.attributes);
                    // An event without a message is named after its place,
                    // `event file:line`: the line is where `twin!` was
                    // invoked, one apart for the two modules.
                    let name = match e.name.rsplit_once(':') {
                        Some((place, line))
                            if place.starts_with("event ")
                                && line.bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            place
                        }
                        _ => &e.name,
                    };
                    (normalise(name), fields)
                })
                .collect();
            let status = match &s.status {
                Status::Unset => "unset".to_owned(),
                Status::Ok => "ok".to_owned(),
                Status::Error { description } => format!("error: {description}"),
            };
            Seen {
                name: normalise(&s.name),
                parent: by_id.get(&s.parent_span_id).cloned(),
                attributes,
                events,
                status,
            }
        })
        .collect();
    out.sort();
    out
}

/// Polls a future that completes without waiting (these do) to its end.
/// Not `futures::executor::block_on`: the SDK's simple span processor
/// blocks on its own executor when a span ends, which may not nest in
/// another.
fn run<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Runs `scenario` under an OpenTelemetry pipeline; the spans it exported.
fn exported(scenario: impl FnOnce()) -> Vec<Seen> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("parity")));
    tracing::subscriber::with_default(subscriber, scenario);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    seen(&spans)
}

#[test]
fn our_spans_reach_opentelemetry_as_tracings_do() {
    let ours = exported(|| {
        ours::handle("ada", "secret", 7);
        ours::handle("bob", "secret", 13);
        let _ = run(ours::fetch(5));
        let _ = run(ours::fetch(13));
        ours::checkout(&[1, 13, 2]);
    });
    let theirs = exported(|| {
        theirs::handle("ada", "secret", 7);
        theirs::handle("bob", "secret", 13);
        let _ = run(theirs::fetch(5));
        let _ = run(theirs::fetch(13));
        theirs::checkout(&[1, 13, 2]);
    });
    assert_eq!(ours.len(), 12, "{ours:#?}");
    assert_eq!(ours, theirs);

    // Not vacuous: the links, the fields and the error status are there.
    let failed_lookup = ours
        .iter()
        .find(|s| s.name == "lookup" && s.status.starts_with("error"))
        .expect("a failed lookup's span has an error status");
    assert!(failed_lookup.parent.is_some(), "{failed_lookup:?}");
    assert!(failed_lookup
        .attributes
        .iter()
        .any(|(k, v)| k == "table" && v == "orders"));
    assert!(
        ours.iter()
            .any(|s| s.name == "handle"
                && s.attributes.iter().any(|(k, v)| k == "user" && v == "ada"))
    );
    assert!(ours
        .iter()
        .all(|s| !s.attributes.iter().any(|(k, _)| k == "token")));
    assert!(ours.iter().any(|s| s.name == "lookup"
        && s.parent
            .as_ref()
            .is_some_and(|(name, _)| name == "checkout.run")));
    // A lookup hangs under the very handle call that made it.
    assert!(ours.iter().any(|s| s.name == "lookup"
        && s.attributes.iter().any(|(k, v)| k == "id" && v == "7")
        && s.parent
            .as_ref()
            .is_some_and(|(name, attributes)| name == "handle"
                && attributes.iter().any(|(k, v)| k == "user" && v == "ada"))));
}
