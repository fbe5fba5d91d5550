//! An example service: tokio + axum, with instrumented handlers and an
//! instrumented repository, serving what `instrument_once` knows.
//!
//! ```text
//! cargo run -p instrument-once-service              # listens on 127.0.0.1:3000
//! curl localhost:3000/orders/7                      # an order (ids ending in 3: 404)
//! curl 'localhost:3000/dashboard?user=auth0|42'     # 14 lookups of one user
//! curl localhost:3000/metrics                       # Prometheus (text, or protobuf by Accept)
//! curl localhost:3000/debug/instrumentation         # the table
//! curl localhost:3000/debug/diagnose                # why each function records or not
//! ```
//!
//! `--port N` chooses the port (0: any free one); the first line printed is
//! `listening on http://ADDRESS`. The fleet test (`tests/fleet.rs`) runs
//! three of it under a real Prometheus.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use instrument_once::instrument_once;

mod repository {
    use std::fmt;
    use std::time::Duration;

    use instrument_once::instrument_once;

    /// An order.
    #[derive(Debug)]
    pub(crate) struct Order {
        pub(crate) id: u64,
        pub(crate) total_cents: u64,
    }

    /// No order with that id.
    #[derive(Debug)]
    pub(crate) struct NotFound(pub(crate) u64);

    impl fmt::Display for NotFound {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "no order {}", self.0)
        }
    }

    impl std::error::Error for NotFound {}

    /// The store's latency for an order: spread evenly on a log scale from
    /// 1 ms to 50 ms by the id's hash (so a load over many ids has a smooth,
    /// known mix).
    pub(crate) fn latency(id: u64) -> Duration {
        #[allow(clippy::cast_precision_loss)] // 53 bits
        let u = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
        Duration::from_secs_f64(50f64.powf(u) / 1e3)
    }

    /// Whether an order exists: every id but those ending in 3 (a tenth of
    /// any run of consecutive ids).
    pub(crate) fn exists(id: u64) -> bool {
        id % 10 != 3
    }

    /// A blocking store call.
    #[instrument_once(err)]
    pub(crate) fn load_order(id: u64) -> Result<Order, NotFound> {
        std::thread::sleep(latency(id));
        if exists(id) {
            Ok(Order {
                id,
                total_cents: id * 100 + 99,
            })
        } else {
            Err(NotFound(id))
        }
    }

    /// A cache round-trip for a user.
    #[instrument_once(repeats_by(auth0_id))]
    pub(crate) fn user_by_auth0_id(auth0_id: &str) -> String {
        std::thread::sleep(Duration::from_micros(200));
        format!("user {auth0_id}")
    }
}

/// `GET /orders/{id}`.
#[instrument_once(err)]
async fn get_order(id: u64) -> Result<String, StatusCode> {
    let order = tokio::task::spawn_blocking(move || repository::load_order(id))
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .map_err(|_| StatusCode::NOT_FOUND)?;
    Ok(format!("order {}: {} cents\n", order.id, order.total_cents))
}

/// `GET /dashboard?user=..`: the incident of the per-request profile, each
/// widget looking the same user up again. `request`: each call is one
/// request in `instrument_once::request::report()`.
#[instrument_once(request)]
async fn dashboard(user: String) -> String {
    let mut page = String::new();
    for widget in 0..14 {
        let name = repository::user_by_auth0_id(&user);
        let _ = writeln!(page, "widget {widget}: {name}");
        tokio::task::yield_now().await;
    }
    page
}

#[derive(serde::Deserialize)]
struct DashboardQuery {
    user: Option<String>,
}

fn app() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async {
                "try /orders/7, /dashboard?user=auth0|42, /metrics, /debug/instrumentation, \
                 /debug/diagnose\n"
            }),
        )
        .route("/orders/{id}", get(|Path(id): Path<u64>| get_order(id)))
        .route(
            "/dashboard",
            get(|Query(q): Query<DashboardQuery>| {
                dashboard(q.user.unwrap_or_else(|| "auth0|anonymous".to_owned()))
            }),
        )
        .merge(instrument_once::http::router())
}

fn port() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--port") {
        Some(i) => args
            .get(i + 1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("--port takes a number, e.g. --port 3000")),
        None => 3000,
    }
}

#[tokio::main]
async fn main() {
    // INFO: the handlers' spans are recorded (see /debug/diagnose); the
    // events of `err` and the request profile's warnings are printed.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    let address = SocketAddr::from(([127, 0, 0, 1], port()));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {address}: {e}"));
    let bound = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("listening on http://{bound}");
    let _ = std::io::stdout().flush();
    axum::serve(listener, app())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("the server runs");
}
