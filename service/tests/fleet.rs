//! The fleet view, end to end with a real Prometheus: three instances of the
//! example service on loopback ports, two Prometheus servers scraping them
//! every second (one reading the text exposition's classic buckets, one
//! started with `--enable-feature=native-histograms`, which negotiates the
//! protobuf exposition and keeps the native ones), a known load (a known
//! error ratio, a smooth latency mix), then `PromQL` through Prometheus' HTTP
//! API against what the instances themselves recorded:
//!
//! * the error ratio from `rate(instrument_once_calls_total{result="error"})`
//!   is the driven one within 5%,
//! * p50/p90/p99 from `histogram_quantile` over the classic buckets summed
//!   `by (le)`, and over the native histograms, are within 10% of the same
//!   quantiles of the instances' merged exponential histograms,
//! * `promtool check metrics` accepts the text exposition.
//!
//! It needs `prometheus` and `promtool` on `PATH` (Debian: `apt-get install
//! prometheus`; `.ci/run` installs them). Without them it says so and
//! passes, unless `INSTRUMENT_ONCE_REQUIRE_PROMETHEUS` is set (as `.ci/run`
//! sets it), which makes their absence a failure. Everything runs on
//! loopback, every wait has a deadline, and every process it starts is
//! killed when the test ends, passing or not.
#![allow(missing_docs)]

mod common;

use std::collections::BTreeMap;

use common::{get, service, try_get, Running};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests driven in all (a multiple of 10: exactly a tenth are errors).
const REQUESTS: u64 = 3_000;
/// Client threads driving them.
const CLIENTS: usize = 24;

/// A temporary folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "instrument-once-fleet-{}-{}",
            std::process::id(),
            now.as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// The version `prometheus --version` prints, as (major, minor).
fn prometheus_version(bin: &Path) -> Option<(u32, u32)> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let version = text.split("version ").nth(1)?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a Prometheus scraping `targets` every second.
fn prometheus(bin: &Path, dir: &Path, name: &str, targets: &[u16], native: bool) -> (Running, u16) {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    let targets: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
    let config = home.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: service\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .unwrap();
    let port = free_port();
    let mut command = Command::new(bin);
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            home.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.join("log")).unwrap());
    let log = Some(home.join("log"));
    if native {
        command.arg("--enable-feature=native-histograms");
    }
    let child = command.spawn().unwrap();
    (
        Running {
            child,
            what: format!("prometheus ({name})"),
            log,
        },
        port,
    )
}

/// An instant query's scalar result (the first series' value), or `None`
/// when the result is empty or not ready.
fn query(port: u16, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = try_get(port, &format!("/api/v1/query?query={encoded}"), None).ok()?;
    if status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let result = json["data"]["result"].as_array()?;
    let value = result.first()?["value"][1].as_str()?;
    value.parse().ok().filter(|v: &f64| v.is_finite())
}

/// Waits until `ready` holds, or fails naming `what` (asked then) after
/// `limit`.
fn wait_for(what: impl Fn() -> String, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {}",
            what()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The merged exponential histogram of `load_order` across the instances:
/// index -> count, and the scale.
fn merged_histogram(ports: &[u16]) -> (i32, BTreeMap<i64, u64>) {
    let mut merged = BTreeMap::new();
    let mut scale = 0;
    for port in ports {
        let (status, body) = get(*port, "/debug/instrumentation.json", None);
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let site = json["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["qualified_name"]
                    .as_str()
                    .unwrap()
                    .ends_with("::load_order")
            })
            .expect("load_order is listed");
        let h = &site["histogram"];
        scale = i32::try_from(h["scale"].as_i64().unwrap()).unwrap();
        for b in h["buckets"].as_array().unwrap() {
            *merged.entry(b["index"].as_i64().unwrap()).or_insert(0) +=
                b["count"].as_u64().unwrap();
        }
    }
    (scale, merged)
}

/// The `q` quantile of an exponential histogram of nanoseconds, in seconds:
/// the bucket holding the rank, interpolated inside it on a log scale.
#[allow(clippy::cast_precision_loss)]
fn quantile(scale: i32, buckets: &BTreeMap<i64, u64>, q: f64) -> f64 {
    let total: u64 = buckets.values().sum();
    let rank = q * total as f64;
    let mut seen = 0.0;
    let per_octave = f64::from(1u32 << scale);
    for (index, count) in buckets {
        let next = seen + *count as f64;
        if next >= rank {
            let within = (rank - seen) / *count as f64;
            let exponent = (*index as f64 + within) / per_octave;
            return 2f64.powf(exponent) / 1e9;
        }
        seen = next;
    }
    f64::NAN
}

/// The load: ids `0..REQUESTS`, a tenth of them errors, spread over the
/// three instances by id. Returns the error ratio driven.
fn drive(ports: &[u16]) -> f64 {
    let next = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, ports) = (Arc::clone(&next), ports.to_vec());
            std::thread::spawn(move || loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id >= REQUESTS {
                    return;
                }
                let port = ports[usize::try_from(id % 3).unwrap()];
                let (status, _) = get(port, &format!("/orders/{id}"), None);
                let expected = if id % 10 == 3 { 404 } else { 200 };
                assert_eq!(status, expected, "order {id}");
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    #[allow(clippy::cast_precision_loss)]
    let ratio = (0..REQUESTS).filter(|id| id % 10 == 3).count() as f64 / REQUESTS as f64;
    ratio
}

/// p50/p90/p99 through both servers against the instances' merged
/// histograms; a line for each.
fn compare_quantiles(ports: &[u16], classic: u16, native: u16, window: &str) -> String {
    let (scale, merged) = merged_histogram(ports);
    assert_eq!(merged.values().sum::<u64>(), REQUESTS);
    let mut report = Vec::new();
    for q in [0.5, 0.9, 0.99] {
        let exact = quantile(scale, &merged, q);
        let classic_q = query(
            classic,
            &format!(
                r#"histogram_quantile({q}, sum by (le) (rate(instrument_once_duration_seconds_bucket{{function=~".*::load_order"}}{window})))"#
            ),
        )
        .expect("a classic quantile");
        let native_q = query(
            native,
            &format!(
                r#"histogram_quantile({q}, sum(rate(instrument_once_duration_seconds{{function=~".*::load_order"}}{window})))"#
            ),
        )
        .expect("a native quantile");
        report.push(format!(
            "p{}: in-process {:.3} ms, classic {:.3} ms ({:+.1}%), native {:.3} ms ({:+.1}%)",
            q * 100.0,
            exact * 1e3,
            classic_q * 1e3,
            (classic_q / exact - 1.0) * 100.0,
            native_q * 1e3,
            (native_q / exact - 1.0) * 100.0
        ));
        for (how, got) in [("classic", classic_q), ("native", native_q)] {
            assert!(
                (got / exact - 1.0).abs() <= 0.10,
                "p{} {how}: {got} s through Prometheus, {exact} s in process\n{}",
                q * 100.0,
                report.join("\n")
            );
        }
    }

    report.join("; ")
}

/// `promtool check metrics` on one instance's text exposition.
fn promtool_accepts(promtool: &Path, port: u16) {
    let (_, text) = get(port, "/metrics", None);
    assert!(
        String::from_utf8_lossy(&text).contains("instrument_once_calls_per_request_bucket"),
        "the request families are in what promtool checks"
    );
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(&text).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn three_instances_read_right_through_a_real_prometheus() {
    let required = std::env::var_os("INSTRUMENT_ONCE_REQUIRE_PROMETHEUS").is_some();
    let (Some(prometheus_bin), Some(promtool)) = (on_path("prometheus"), on_path("promtool"))
    else {
        assert!(
            !required,
            "prometheus and promtool must be on PATH (Debian: apt-get install prometheus)"
        );
        eprintln!(
            "SKIPPED: prometheus or promtool not on PATH (Debian: apt-get install prometheus)"
        );
        return;
    };
    // Native histograms came in 2.40.
    let version = prometheus_version(&prometheus_bin);
    if version.is_none_or(|v| v < (2, 40)) {
        assert!(
            !required,
            "prometheus {version:?} is older than 2.40 (native histograms)"
        );
        eprintln!("SKIPPED: prometheus {version:?} is older than 2.40 (native histograms)");
        return;
    }
    let started = Instant::now();
    let dir = TempDir::new();
    let instances: Vec<(Running, u16)> = (0..3).map(|_| service()).collect();
    let ports: Vec<u16> = instances.iter().map(|(_, p)| *p).collect();
    let (classic_server, classic) = prometheus(&prometheus_bin, &dir.0, "classic", &ports, false);
    let (native_server, native) = prometheus(&prometheus_bin, &dir.0, "native", &ports, true);
    for (server, port) in [(&classic_server, classic), (&native_server, native)] {
        wait_for(
            || format!("{} to scrape the three instances", server.describe()),
            Duration::from_secs(60),
            || query(port, "sum(up)") == Some(3.0),
        );
    }

    let driven_errors = drive(&ports);

    // Both servers have scraped the final counts.
    let all = r#"sum(instrument_once_calls_total{function=~".*::load_order"})"#;
    #[allow(clippy::cast_precision_loss)]
    for (server, port) in [(&classic_server, classic), (&native_server, native)] {
        wait_for(
            || format!("{} to scrape the final counts", server.describe()),
            Duration::from_secs(30),
            || query(port, all) == Some(REQUESTS as f64),
        );
    }

    let window = "[5m]";
    let ratio = format!(
        r#"sum(rate(instrument_once_calls_total{{function=~".*::load_order",result="error"}}{window})) / sum(rate(instrument_once_calls_total{{function=~".*::load_order"}}{window}))"#
    );
    let mut error_ratio = 0.0;
    for port in [classic, native] {
        error_ratio = query(port, &ratio).expect("an error ratio");
        assert!(
            (error_ratio - driven_errors).abs() <= 0.05 * driven_errors,
            "error ratio {error_ratio} through Prometheus on port {port}, {driven_errors} driven"
        );
    }

    let report = compare_quantiles(&ports, classic, native, window);

    // promtool accepts the text exposition, the request families included.
    assert_eq!(get(ports[0], "/dashboard?user=auth0%7C7", None).0, 200);
    promtool_accepts(&promtool, ports[0]);

    eprintln!(
        "error ratio {error_ratio:.4} (driven {driven_errors}); {}; {:.1} s",
        report,
        started.elapsed().as_secs_f64()
    );
    drop((classic_server, native_server, instances));
}
