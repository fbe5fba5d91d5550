//! What latency histograms cost, and what happens at the memory cap.
//!
//! The cap is process-wide, so this file is its own test binary and its
//! tests take turns (`TURN`).
#![allow(missing_docs)]

use std::process::Command;
use std::sync::{Mutex, PoisonError};

use instrument_once::{diagnose, histogram_memory, instrument_once, set_histogram_memory_cap};

/// The site of a function of this file.
fn site(name: &str) -> &'static instrument_once::Site {
    instrument_once::registry()
        .get(&format!("{}::{name}", module_path!()))
        .unwrap_or_else(|| panic!("no site {name}"))
}

static TURN: Mutex<()> = Mutex::new(());

macro_rules! functions {
    ($($name:ident)*) => {
        $(
            #[instrument_once]
            fn $name(n: u64) -> u64 {
                std::hint::black_box(n).wrapping_mul(3)
            }
        )*
        const FUNCTIONS: &[(fn(u64) -> u64, &str)] = &[$(($name, stringify!($name))),*];
    };
}

functions!(f00 f01 f02 f03 f04 f05 f06 f07 f08 f09 f10 f11 f12 f13 f14 f15);

#[instrument_once]
fn capped(n: u64) -> Result<u64, String> {
    if n % 2 == 0 {
        Ok(n)
    } else {
        Err(format!("odd {n}"))
    }
}

/// Calls every function of [`FUNCTIONS`] `calls` times on each of `threads`
/// fresh threads, which all live until every one is done (so none takes
/// over the counter block of one that exited).
fn call_everywhere(threads: usize, calls: u64) {
    let done = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for (f, _) in FUNCTIONS {
                    for i in 0..calls {
                        std::hint::black_box(f(i));
                    }
                }
                done.wait();
            });
        }
    });
}

#[test]
fn a_timed_function_costs_under_a_kibibyte_per_calling_thread() {
    let _turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
    set_histogram_memory_cap(instrument_once::DEFAULT_HISTOGRAM_MEMORY);
    let before = histogram_memory();
    let threads = 4;
    call_everywhere(threads, 200);
    let after = histogram_memory();
    assert_eq!(after.refused, before.refused);
    let per_function_and_thread = (after.used - before.used) / (FUNCTIONS.len() * threads);
    // A thread's counter block is 128 bytes; its histogram takes the rest
    // of the kibibyte at most (a spill page for an outlier included).
    assert!(
        per_function_and_thread + 128 <= 1024,
        "{per_function_and_thread} bytes of histogram per function and thread"
    );
    // Every thread of every function has its own window.
    assert!(per_function_and_thread >= 512, "{per_function_and_thread}");
    for (_, name) in FUNCTIONS {
        let stats = site(name).stats();
        assert_eq!(stats.calls, 200 * threads as u64);
        assert_eq!(stats.latency.count, stats.calls);
        assert_eq!(stats.latency.unbucketed, 0);
    }
}

#[test]
fn past_the_cap_calls_are_counted_without_a_bucket_and_diagnose_says_so() {
    let _turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
    let site = site("capped");
    // No room for one more window.
    set_histogram_memory_cap(histogram_memory().used);
    let refused_before = histogram_memory().refused;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..10 {
                let _ = capped(i);
            }
        });
    });
    let stats = site.stats();
    assert!(histogram_memory().refused > refused_before);
    // Nothing is lost: each call is counted, each return is timed, none
    // has a bucket.
    assert_eq!((stats.calls, stats.ok, stats.errors), (10, 5, 5));
    assert_eq!(stats.latency.count, 10);
    assert_eq!(stats.latency.unbucketed, 10);
    let report = diagnose().to_string();
    assert!(
        report.contains("histogram memory at its cap")
            && report.contains("10 timed calls counted without a bucket")
            && report.contains("INSTRUMENT_ONCE_HISTOGRAM_MEMORY"),
        "{report}"
    );

    // Raised again, the next thread gets its window.
    set_histogram_memory_cap(instrument_once::DEFAULT_HISTOGRAM_MEMORY);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..10 {
                let _ = capped(i);
            }
        });
    });
    let stats = site.stats();
    assert_eq!(stats.latency.count, 20);
    assert_eq!(stats.latency.unbucketed, 10);
}

/// Runs this binary's test `name` in a child process with the cap's
/// environment variable set to `value`.
fn child_with_cap(name: &str, value: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(instrument_once::control::ENV_HISTOGRAM_MEMORY, value)
        .output()
        .unwrap()
}

#[test]
fn the_environment_sets_the_cap() {
    if let Ok(value) = std::env::var(instrument_once::control::ENV_HISTOGRAM_MEMORY) {
        // In the child: the registry reads the environment at first use.
        let report = diagnose();
        if value == "3 MiB" {
            assert_eq!(histogram_memory().cap, 3 << 20);
            assert!(report.invalid_directives().is_empty());
        } else {
            assert_eq!(
                histogram_memory().cap,
                instrument_once::DEFAULT_HISTOGRAM_MEMORY
            );
            let invalid = report.invalid_directives();
            assert_eq!(invalid.len(), 1, "{invalid:?}");
            assert!(
                invalid[0].to_string().contains("KiB, MiB or GiB"),
                "{}",
                invalid[0]
            );
        }
        return;
    }
    for value in ["3 MiB", "3 MB"] {
        let out = child_with_cap("the_environment_sets_the_cap", value);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{value}: {stdout}");
        assert!(stdout.contains("1 passed"), "{value}: {stdout}");
    }
}
