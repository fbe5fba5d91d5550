//! "No traces arrive from this service" — reproduced three ways, and
//! `diagnose()` naming the cause each time:
//!
//! 1. no subscriber is installed;
//! 2. the subscriber filters the span's level out;
//! 3. the function is switched off by the `INSTRUMENT_ONCE` environment
//!    variable (this example re-runs itself with it set).
//!
//! ```text
//! cargo run -p instrument-once --example missing_spans
//! ```

use instrument_once::{instrument_once, Verdict};

mod db {
    /// The function whose spans "never arrive".
    #[instrument_once::instrument_once(level = "debug")]
    pub(crate) fn query(sql: &str) -> usize {
        sql.len()
    }
}

/// Called on every request; never switched off.
#[instrument_once]
fn handle_request(path: &str) -> usize {
    db::query(path)
}

fn verdict() -> Verdict {
    let site = instrument_once::registry()
        .get("missing_spans::db::query")
        .expect("db::query is instrumented");
    site.diagnose().verdict
}

fn main() {
    if std::env::var_os("MISSING_SPANS_CHILD").is_some() {
        // Scenario 3, in the child: a subscriber that wants everything,
        // and a directive from the environment that turns `db` off.
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .init();
        handle_request("SELECT 1");
        println!("3. switched off by env: {}", verdict());
        println!();
        println!("{}", instrument_once::diagnose());
        return;
    }

    // Scenario 1: the service forgot to install a subscriber.
    handle_request("SELECT 1");
    println!("1. no subscriber:       {}", verdict());

    // Scenario 2: a subscriber is installed, but only at INFO.
    let info_only = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(info_only, || {
        handle_request("SELECT 2");
        println!("2. filtered by level:   {}", verdict());
    });

    // Scenario 3: the same program, with `INSTRUMENT_ONCE=-missing_spans::db`.
    let exe = std::env::current_exe().expect("the example's own path");
    let status = std::process::Command::new(exe)
        .env("MISSING_SPANS_CHILD", "1")
        .env("INSTRUMENT_ONCE", "-missing_spans::db")
        .status()
        .expect("re-run the example");
    assert!(status.success());
}
