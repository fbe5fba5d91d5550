//! Serves the registry over HTTP on 127.0.0.1 while a load loop calls
//! instrumented functions:
//!
//! * `GET /metrics`: Prometheus text format,
//! * `GET /debug/instrumentation`: the snapshot as JSON,
//! * `GET /debug/diagnose`: why each function's spans are or are not recorded.
//!
//! ```text
//! cargo run -p instrument-once --features serde --example metrics_endpoint -- [PORT] [SECONDS]
//! curl http://127.0.0.1:9898/metrics
//! ```
//!
//! It stops after SECONDS (default: run until interrupted).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use instrument_once::instrument_once;

mod db {
    /// A lookup that sometimes misses.
    #[instrument_once::instrument_once(err)]
    pub(crate) fn find_user(id: u64) -> Result<String, String> {
        std::thread::sleep(std::time::Duration::from_micros(50 + id % 200));
        if id % 13 == 0 {
            Err(format!("no user {id}"))
        } else {
            Ok(format!("user-{id}"))
        }
    }
}

/// A request handler.
#[instrument_once]
fn handle(id: u64) -> usize {
    db::find_user(id).map_or(0, |u| u.len())
}

fn serve(server: &tiny_http::Server, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let (body, content_type) = match request.url() {
            "/metrics" => (
                instrument_once::registry().snapshot().to_prometheus(),
                "text/plain; version=0.0.4",
            ),
            "/debug/instrumentation" => (
                serde_json::to_string_pretty(&instrument_once::registry().snapshot())
                    .expect("a snapshot serialises"),
                "application/json",
            ),
            "/debug/diagnose" => (instrument_once::diagnose().to_string(), "text/plain"),
            _ => (
                "try /metrics, /debug/instrumentation or /debug/diagnose\n".to_owned(),
                "text/plain",
            ),
        };
        let header =
            tiny_http::Header::from_bytes("Content-Type", content_type).expect("a valid header");
        let _ = request.respond(tiny_http::Response::from_string(body).with_header(header));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .map_or(9898, |p| p.parse().expect("PORT is a number"));
    let seconds: Option<u64> = args.next().map(|s| s.parse().expect("SECONDS is a number"));
    let server = tiny_http::Server::http(("127.0.0.1", port)).expect("bind 127.0.0.1");
    println!("serving http://127.0.0.1:{port}/metrics and /debug/instrumentation");

    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut id = 0u64;
            while !stop.load(Ordering::Relaxed) {
                handle(id);
                id += 1;
            }
        })
    };
    let timer = seconds.map(|s| {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(s);
            while Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.store(true, Ordering::Relaxed);
        })
    });
    serve(&server, &stop);
    load.join().expect("the load loop ends");
    if let Some(t) = timer {
        t.join().expect("the timer ends");
    }
    println!("{}", instrument_once::registry().snapshot());
}
