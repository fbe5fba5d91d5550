//! The incident the per-request call profile exists for: a dashboard
//! handler that looks the same user up 14 times in one request. Per-function
//! totals cannot show it (14 calls per request reads like 14 requests); the
//! request report and the WARN event at the request's end do.
//!
//! ```text
//! cargo run -p instrument-once --example requests
//! ```
//!
//! Four worker threads serve 50 requests each. Every request renders the
//! dashboard: one user lookup per widget (14 widgets, all for the same
//! user, each lookup a cache round-trip of 250 µs) and one settings lookup.

use std::thread;
use std::time::Duration;

use instrument_once::{instrument_once, request};

/// A cache round-trip. `repeats_by(auth0_id)`: a call with the same id as an
/// earlier call in the same request is a repeat.
#[instrument_once(repeats_by(auth0_id))]
fn user_by_auth0_id(auth0_id: &str) -> Option<String> {
    thread::sleep(Duration::from_micros(250));
    Some(format!("user {auth0_id}"))
}

/// Called once per request: no repeats.
#[instrument_once]
fn settings(auth0_id: &str) -> usize {
    auth0_id.len()
}

/// One widget of the dashboard: it looks the user up itself, as each widget
/// of the service in the incident did.
#[instrument_once]
fn widget(n: usize, auth0_id: &str) -> usize {
    user_by_auth0_id(auth0_id).map_or(0, |u| u.len() + n)
}

/// The handler. `request`: each call is one request, named after the
/// function's qualified name.
#[instrument_once(request)]
fn dashboard(auth0_id: &str) -> usize {
    let widgets: usize = (0..14).map(|n| widget(n, auth0_id)).sum();
    widgets + settings(auth0_id)
}

fn main() {
    // The WARN event ("... was called 13 times with a key it had already
    // been called with ...") goes wherever `tracing` sends events.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_target(false)
        .init();

    let workers: Vec<_> = (0..4)
        .map(|w| {
            thread::spawn(move || {
                for r in 0..50 {
                    let user = format!("auth0|{w}{r:03}");
                    dashboard(&user);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker panicked");
    }

    // A request of another name, opened around a closure.
    request::scope("GET /health", || settings("probe"));

    let report = request::report();
    println!("{report}");
    let lookups = report
        .get("requests::dashboard", "requests::user_by_auth0_id")
        .expect("the dashboard looked users up");
    println!(
        "user_by_auth0_id: {} calls in {} requests, {} of them repeats (at most {} in one request)",
        lookups.calls, lookups.requests, lookups.repeats, lookups.max_repeats
    );
}
