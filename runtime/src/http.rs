//! Serving the exports over HTTP: `/metrics` (Prometheus, text or protobuf
//! by the scrape's `Accept` header), `/debug/instrumentation` (the
//! snapshot's table), `/debug/diagnose` (the diagnosis) and, with the
//! `serde` feature, `/debug/instrumentation.json`.
//!
//! [`respond`] answers for any server (it takes a path and an `Accept`
//! header and returns status, content type and body); with the `axum`
//! feature, `router` is a ready `axum::Router` to merge into a service's.
//!
//! ```
//! let r = instrument_once::http::respond("/metrics?debug=1", None);
//! assert_eq!((r.status, r.content_type), (200, instrument_once::http::TEXT));
//! assert_eq!(instrument_once::http::respond("/nope", None).status, 404);
//! ```

use std::fmt::Write as _;

/// The Prometheus text exposition's media type.
///
/// ```
/// let r = instrument_once::http::metrics(None);
/// assert_eq!(r.content_type, instrument_once::http::TEXT);
/// ```
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus protobuf exposition's media type (length-delimited
/// `MetricFamily` messages, native histograms included).
///
/// ```
/// assert!(instrument_once::http::PROTOBUF.contains("encoding=delimited"));
/// ```
pub const PROTOBUF: &str = crate::export::PROTOBUF_CONTENT_TYPE;

/// Plain text (the table and the diagnosis).
const PLAIN: &str = "text/plain; charset=utf-8";

/// The paths [`respond`] serves.
///
/// ```
/// assert!(instrument_once::http::PATHS.contains(&"/metrics"));
/// ```
pub const PATHS: &[&str] = &[
    "/metrics",
    "/debug/instrumentation",
    "/debug/diagnose",
    #[cfg(feature = "serde")]
    "/debug/instrumentation.json",
];

/// What [`respond`] answers.
///
/// ```
/// let r = instrument_once::http::respond("/debug/diagnose", None);
/// assert_eq!(r.status, 200);
/// assert!(!r.body.is_empty());
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status: 200, 404 for a path not in [`PATHS`], 500 if the
    /// JSON snapshot could not be written.
    pub status: u16,
    /// The `Content-Type` header's value.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    fn ok(content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status: 200,
            content_type,
            body,
        }
    }
}

/// Whether a scrape's `Accept` header prefers the protobuf exposition to
/// the text one: it names `application/vnd.google.protobuf` with
/// `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`, at a
/// quality no lower than the best it gives the text format (`text/plain`,
/// `text/*` or `*/*`). Without the header, text.
///
/// ```
/// use instrument_once::http::wants_protobuf;
/// // What Prometheus sends with `--enable-feature=native-histograms`:
/// assert!(wants_protobuf(
///     "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
///      encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
/// ));
/// assert!(!wants_protobuf("text/plain;version=0.0.4;q=1,*/*;q=0.1"));
/// assert!(!wants_protobuf("application/vnd.google.protobuf;encoding=delimited"));
/// ```
#[must_use]
pub fn wants_protobuf(accept: &str) -> bool {
    let mut protobuf = 0.0f64;
    let mut text = 0.0f64;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut quality = 1.0;
        let mut proto = None;
        let mut encoding = None;
        for param in parts {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                // A quality is 0 to 1 (RFC 9110); anything else counts
                // as refused.
                "q" => {
                    quality = value
                        .parse()
                        .ok()
                        .filter(|q: &f64| (0.0..=1.0).contains(q))
                        .unwrap_or(0.0);
                }
                "proto" => proto = Some(value.to_owned()),
                "encoding" => encoding = Some(value.to_owned()),
                _ => {}
            }
        }
        match media.as_str() {
            "application/vnd.google.protobuf"
                if proto.as_deref() == Some("io.prometheus.client.MetricFamily")
                    && encoding.as_deref() == Some("delimited") =>
            {
                protobuf = protobuf.max(quality);
            }
            "text/plain" | "text/*" | "*/*" => text = text.max(quality),
            _ => {}
        }
    }
    protobuf > 0.0 && protobuf >= text
}

/// `/metrics`: a fresh snapshot in the format `accept` prefers (see
/// [`wants_protobuf`]).
///
/// ```
/// let r = instrument_once::http::metrics(Some("application/vnd.google.protobuf;\
///     proto=io.prometheus.client.MetricFamily;encoding=delimited"));
/// assert_eq!(r.content_type, instrument_once::http::PROTOBUF);
/// ```
#[must_use]
pub fn metrics(accept: Option<&str>) -> Response {
    let snapshot = crate::registry().snapshot();
    if accept.is_some_and(wants_protobuf) {
        Response::ok(PROTOBUF, snapshot.to_prometheus_protobuf())
    } else {
        Response::ok(TEXT, snapshot.to_prometheus().into_bytes())
    }
}

/// Answers a `GET` of `path` (its query string, if any, is ignored) with
/// the scrape's `Accept` header, for any HTTP server: 200 with the export,
/// or 404 with the list of [`PATHS`].
///
/// ```
/// let r = instrument_once::http::respond("/debug/instrumentation", None);
/// assert!(String::from_utf8(r.body).unwrap().contains("calls"));
/// ```
#[must_use]
pub fn respond(path: &str, accept: Option<&str>) -> Response {
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path {
        "/metrics" => metrics(accept),
        "/debug/instrumentation" => {
            Response::ok(PLAIN, crate::registry().snapshot().to_string().into_bytes())
        }
        "/debug/diagnose" => Response::ok(PLAIN, crate::diagnose().to_string().into_bytes()),
        #[cfg(feature = "serde")]
        "/debug/instrumentation.json" => match serde_json::to_vec(&crate::registry().snapshot()) {
            Ok(json) => Response::ok("application/json", json),
            Err(e) => Response {
                status: 500,
                content_type: PLAIN,
                body: format!("the snapshot did not serialise: {e}\n").into_bytes(),
            },
        },
        _ => {
            let mut body = format!("404: no {path} here; these are served:\n");
            for p in PATHS {
                let _ = writeln!(body, "  {p}");
            }
            Response {
                status: 404,
                content_type: PLAIN,
                body: body.into_bytes(),
            }
        }
    }
}

/// An `axum` router serving [`PATHS`] (feature `axum`); merge it into a
/// service's router. Each request takes a fresh snapshot; concurrent
/// scrapes are served concurrently.
///
/// ```
/// # #[cfg(feature = "axum")] {
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .merge(instrument_once::http::router());
/// # }
/// ```
#[cfg(feature = "axum")]
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    let mut router = axum::Router::new();
    for path in PATHS {
        router = router.route(path, axum::routing::get(serve));
    }
    router
}

#[cfg(feature = "axum")]
async fn serve(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let r = respond(uri.path(), accept);
    let status = axum::http::StatusCode::from_u16(r.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, r.content_type)],
        r.body,
    )
        .into_response()
}
