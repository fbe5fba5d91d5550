//! The example service's endpoints over real HTTP: the exports with query
//! strings, 404 for unknown paths, the protobuf exposition by `Accept`, and
//! scrapes served concurrently.
#![allow(missing_docs)]

mod common;

use common::{get, service};

const PROTOBUF_ACCEPT: &str = "application/vnd.google.protobuf;\
    proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,\
    text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

#[test]
fn the_endpoints_answer_and_unknown_paths_are_404() {
    let (_running, port) = service();
    assert_eq!(get(port, "/orders/7", None).0, 200);
    assert_eq!(
        get(port, "/orders/13", None).0,
        404,
        "ids ending in 3 are missing"
    );
    for path in [
        "/metrics",
        "/metrics?x=1",
        "/debug/instrumentation?verbose",
        "/debug/diagnose",
        "/debug/instrumentation.json",
    ] {
        let (status, body) = get(port, path, None);
        assert_eq!(status, 200, "{path}");
        assert!(!body.is_empty(), "{path}");
    }
    let (_, text) = get(port, "/metrics?x=1", None);
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("# TYPE instrument_once_duration_seconds histogram"));
    assert!(text.contains("load_order\",result=\"error\"} 1"), "{text}");
    for path in ["/nope", "/metrics/extra", "/debug"] {
        assert_eq!(get(port, path, None).0, 404, "{path}");
    }
}

#[test]
fn a_scrape_asking_for_protobuf_gets_it() {
    let (_running, port) = service();
    let (status, body) = get(port, "/metrics", Some(PROTOBUF_ACCEPT));
    assert_eq!(status, 200);
    // Length-delimited: a varint length (its bytes but the last have the
    // high bit), then field 1 (the family's name), which is what it says.
    let length_bytes = body.iter().take_while(|b| **b & 0x80 != 0).count() + 1;
    let mut length = 0usize;
    for (i, b) in body[..length_bytes].iter().enumerate() {
        length |= usize::from(b & 0x7F) << (7 * i);
    }
    assert!(length_bytes + length <= body.len());
    assert_eq!(body[length_bytes], 0x0A, "field 1, length-delimited");
    assert!(body
        .windows(27)
        .any(|w| w == b"instrument_once_calls_total"));
    let (_, text) = get(port, "/metrics", Some("text/plain;version=0.0.4"));
    assert!(text.starts_with(b"# HELP"));
}

#[test]
fn scrapes_are_served_concurrently() {
    let (_running, port) = service();
    // Sixteen scrapes at once, while orders are being served: every one is
    // answered, each with the whole exposition.
    let orders = std::thread::spawn(move || {
        (0..20)
            .map(|id| get(port, &format!("/orders/{id}"), None).0)
            .collect::<Vec<_>>()
    });
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let scrapes: Vec<_> = (0..16)
        .map(|_| {
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                get(port, "/metrics", None)
            })
        })
        .collect();
    for scrape in scrapes {
        let (status, body) = scrape.join().unwrap();
        assert_eq!(status, 200);
        assert!(String::from_utf8(body)
            .unwrap()
            .contains("# TYPE instrument_once_in_flight gauge"));
    }
    assert!(orders
        .join()
        .unwrap()
        .iter()
        .all(|s| *s == 200 || *s == 404));
}
