//! Switches are honoured, with instrumentation on and a real subscriber, and
//! `diagnose()` names why spans are or are not recorded.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use instrument_once::{
    control, current_chain, diagnose, instrument_once, DisabledBy, Site, Verdict,
};
use instrument_once_tests::{global_lock, record, site};
use tracing::Level;

mod db {
    #[instrument_once::instrument_once]
    pub(crate) fn load(id: u32) -> u32 {
        id
    }

    #[instrument_once::instrument_once]
    pub(crate) fn store(id: u32) -> u32 {
        id
    }

    #[instrument_once::instrument_once]
    pub(crate) fn hot_path(id: u32) -> u32 {
        id
    }
}

#[instrument_once]
fn other(x: u32) -> u32 {
    x
}

fn spans_of(lines: &[String], name: &str) -> usize {
    lines
        .iter()
        .filter(|l| l.starts_with(&format!("new {name} ")))
        .count()
}

#[test]
fn a_directive_stops_spans_and_stats_and_others_keep_recording() {
    let _g = global_lock();
    site!(db::store).reset_stats();
    site!(other).reset_stats();
    control::set("-switches::db").unwrap();
    let ((), lines) = record(Level::TRACE, || {
        db::store(1);
        other(1);
    });
    assert_eq!(spans_of(&lines, "store"), 0, "{lines:?}");
    assert_eq!(spans_of(&lines, "other"), 1, "{lines:?}");
    assert_eq!(site!(db::store).stats().calls, 0);
    assert_eq!(site!(other).stats().calls, 1);

    // Later directives win; the glob covers module prefixes and names.
    control::set("-switches::db, +switches::db::store, -*::hot_*").unwrap();
    assert!(site!(db::store).is_enabled());
    assert!(!site!(db::load).is_enabled());
    assert!(!site!(db::hot_path).is_enabled());

    control::set("on").unwrap();
    let (_, lines) = record(Level::TRACE, || db::store(2));
    assert_eq!(
        spans_of(&lines, "store"),
        1,
        "re-enabled on the next call: {lines:?}"
    );
    assert_eq!(site!(db::store).stats().calls, 1);
    control::set("").unwrap();
}

#[test]
fn a_site_switch_wins_over_directives_until_cleared() {
    let _g = global_lock();
    let site = site!(db::load);
    control::set("off").unwrap();
    site.set_enabled(true);
    assert!(site.is_enabled(), "the explicit switch wins");
    assert!(!site!(db::store).is_enabled());
    site.clear_enabled();
    assert!(!site.is_enabled(), "back to the directive");
    control::set("on").unwrap();
    site.set_enabled(false);
    assert_eq!(
        site.diagnose().verdict,
        Verdict::Disabled {
            by: DisabledBy::SiteSwitch
        }
    );
    site.clear_enabled();
    assert!(site.is_enabled());
    control::set("").unwrap();
}

#[test]
fn invalid_directives_are_refused_whole_and_name_the_culprit() {
    let _g = global_lock();
    control::set("-switches::db").unwrap();
    let err = control::set("+switches::db, db:load").unwrap_err();
    assert_eq!(err.directive(), "db:load");
    assert!(err.to_string().contains("`db:load`"));
    assert_eq!(control::current(), "-switches::db", "nothing changed");
    control::set("").unwrap();
}

/// Whether instrumentation was on for this very call.
#[instrument_once]
fn toggled() -> bool {
    current_chain()
        .last()
        .is_some_and(|s| std::ptr::eq(*s, site!(toggled)))
}

#[test]
fn toggling_from_another_thread_takes_effect_on_the_next_call_in_every_thread() {
    const WORKERS: usize = 8;
    const DONE: u32 = u32::MAX;
    let _g = global_lock();
    // `phase` counts toggles: even means on, odd means off. Each worker
    // acknowledges a phase after its first call that followed it; the
    // toggler waits for every acknowledgement before the next toggle, so a
    // worker's first call after it saw a phase must follow that phase.
    let phase = Arc::new(AtomicU32::new(0));
    let acks: Arc<Vec<AtomicU32>> =
        Arc::new((0..WORKERS).map(|_| AtomicU32::new(u32::MAX)).collect());
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let phase = Arc::clone(&phase);
            let acks = Arc::clone(&acks);
            std::thread::spawn(move || {
                let mut checked = 0u64;
                let mut last = u32::MAX;
                loop {
                    let seen = phase.load(Ordering::SeqCst);
                    if seen == DONE {
                        return checked;
                    }
                    let instrumented = toggled();
                    if seen != last {
                        assert_eq!(
                            instrumented,
                            seen % 2 == 0,
                            "phase {seen}: the first call after the switch ignored it"
                        );
                        acks[w].store(seen, Ordering::SeqCst);
                        last = seen;
                        checked += 1;
                    }
                }
            })
        })
        .collect();
    let site = site!(toggled);
    for next in 1..=200u32 {
        while acks.iter().any(|a| a.load(Ordering::SeqCst) != next - 1) {
            std::thread::yield_now();
        }
        site.set_enabled(next % 2 == 0);
        phase.store(next, Ordering::SeqCst);
    }
    while acks.iter().any(|a| a.load(Ordering::SeqCst) != 200) {
        std::thread::yield_now();
    }
    phase.store(DONE, Ordering::SeqCst);
    let checked: Vec<u64> = workers
        .into_iter()
        .map(|w| w.join().expect("no worker panicked"))
        .collect();
    assert!(checked.iter().all(|&c| c == 201), "{checked:?}");
    site.clear_enabled();
}

#[instrument_once]
async fn fetch(x: u32) -> u32 {
    x
}

#[test]
fn an_unpolled_future_follows_the_switch_at_its_first_poll() {
    let _g = global_lock();
    let site = site!(fetch);
    site.reset_stats();
    let created_while_on = fetch(1);
    site.set_enabled(false);
    let (_, lines) = record(Level::TRACE, || {
        futures::executor::block_on(created_while_on)
    });
    assert_eq!(spans_of(&lines, "fetch"), 0, "{lines:?}");
    let created_while_off = fetch(2);
    site.set_enabled(true);
    let (_, lines) = record(Level::TRACE, || {
        futures::executor::block_on(created_while_off)
    });
    assert_eq!(spans_of(&lines, "fetch"), 1, "{lines:?}");
    assert_eq!(site.stats().calls, 1);
    site.clear_enabled();
}

#[instrument_once(max_depth = 5)]
fn guarded(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        guarded(n - 1) + 1
    }
}

#[test]
fn a_disabled_site_with_max_depth_still_guards() {
    let _g = global_lock();
    let site = site!(guarded);
    site.set_enabled(false);
    let r = std::panic::catch_unwind(|| guarded(50));
    site.clear_enabled();
    let msg = *r
        .expect_err("the guard still applies")
        .downcast::<String>()
        .unwrap();
    assert!(msg.contains("max_depth = 5"), "{msg}");
    assert_eq!(site.stats().calls, 0, "but no stats while disabled");
}

// ---------------------------------------------------------------- diagnose

mod diag {
    // Never called: diagnosed as such.
    #[allow(dead_code)]
    #[instrument_once::instrument_once]
    pub(crate) fn never() {}

    #[instrument_once::instrument_once]
    pub(crate) fn unobserved() {}

    #[instrument_once::instrument_once(level = "trace")]
    pub(crate) fn chatty() {}

    #[instrument_once::instrument_once(target = "noisy")]
    pub(crate) fn by_target() {}

    #[instrument_once::instrument_once]
    pub(crate) fn recorded() {}

    // Switched off before any call: diagnosed from its switch alone.
    #[allow(dead_code)]
    #[instrument_once::instrument_once]
    pub(crate) fn switched() {}

    // Called only while switched off, then switched back on.
    #[instrument_once::instrument_once]
    pub(crate) fn only_while_off() {}
}

fn verdict_of(site: &'static Site) -> Verdict {
    diagnose()
        .sites()
        .iter()
        .find(|d| std::ptr::eq(d.site, site))
        .expect("listed")
        .verdict
        .clone()
}

#[test]
fn diagnose_names_every_verdict() {
    let _g = global_lock();
    assert_eq!(verdict_of(site!(diag::never)), Verdict::NeverCalled);

    // No global subscriber in this binary, and none scoped on this thread.
    diag::unobserved();
    assert_eq!(verdict_of(site!(diag::unobserved)), Verdict::NoSubscriber);

    // A subscriber at INFO: a TRACE span is filtered out.
    let (verdict, _) = record(Level::INFO, || {
        diag::chatty();
        verdict_of(site!(diag::chatty))
    });
    assert!(
        matches!(
            verdict,
            Verdict::FilteredOut {
                level: Level::TRACE,
                ..
            }
        ),
        "{verdict:?}"
    );

    // A subscriber that refuses one target: seen at the last call.
    let refuse_noisy = tracing_subscriber::filter::filter_fn(|m| m.target() != "noisy");
    let subscriber = tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        tracing_subscriber::Layer::with_filter(
            tracing_subscriber::fmt::layer().with_writer(std::io::sink),
            refuse_noisy,
        ),
    );
    let verdict = tracing::subscriber::with_default(subscriber, || {
        diag::by_target();
        verdict_of(site!(diag::by_target))
    });
    assert_eq!(
        verdict,
        Verdict::FilteredOut {
            level: Level::INFO,
            max: None
        }
    );

    let (verdict, lines) = record(Level::TRACE, || {
        diag::recorded();
        verdict_of(site!(diag::recorded))
    });
    assert_eq!(verdict, Verdict::Recording, "{lines:?}");

    control::set("-switches::diag::switched").unwrap();
    assert_eq!(
        verdict_of(site!(diag::switched)),
        Verdict::Disabled {
            by: DisabledBy::ApiDirective("-switches::diag::switched".into())
        }
    );
    control::set("").unwrap();

    // Called while off, switched on since: not "never called".
    control::set("-switches::diag::only_while_off").unwrap();
    diag::only_while_off();
    diag::only_while_off();
    control::set("").unwrap();
    assert_eq!(
        verdict_of(site!(diag::only_while_off)),
        Verdict::CalledOnlyWhileDisabled
    );
    assert_eq!(site!(diag::only_while_off).stats().calls, 0);

    // A directive that matches nothing is listed, and warned about.
    let ((), lines) = record(Level::WARN, || {
        control::add("-Switches::Diag::*").unwrap();
    });
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("-Switches::Diag::*")),
        "{lines:?}"
    );
    assert_eq!(diagnose().unmatched_directives(), ["-Switches::Diag::*"]);
    control::set("").unwrap();

    let table = diagnose().to_string();
    assert!(
        table.contains("never called") && table.contains("no subscriber installed"),
        "{table}"
    );
}

// ---------------------------------------------------------------- env var

/// Run by `the_environment_variable_is_read_once_and_reported` in a child
/// process with `INSTRUMENT_ONCE` set. Prints what it sees.
#[test]
#[ignore = "run in a child process with INSTRUMENT_ONCE set"]
fn child_reads_the_environment() {
    if std::env::var_os("INSTRUMENT_ONCE_TEST_CHILD").is_none() {
        return;
    }
    let log = instrument_once_tests::Log::default();
    let subscriber = tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        instrument_once_tests::Recorder::new(log.clone()),
    );
    tracing::subscriber::set_global_default(subscriber).unwrap();
    db::load(1);
    db::hot_path(1);
    other(1);
    for line in log.take() {
        println!("LOG {line}");
    }
    for d in diagnose().sites() {
        println!("VERDICT {} {}", d.site.qualified_name(), d.verdict);
    }
    for e in diagnose().invalid_directives() {
        println!("INVALID {}", e.directive());
    }
    // Adding on top of the environment keeps its directives and sources.
    control::add("-switches::other").unwrap();
    for d in diagnose().sites() {
        println!("AFTER {} {}", d.site.qualified_name(), d.verdict);
    }
    // Adding what the environment says and removing it again undoes the
    // add only.
    control::add("-switches::db").unwrap();
    control::remove("-switches::db").unwrap();
    for d in diagnose().sites() {
        println!("UNDONE {} {}", d.site.qualified_name(), d.verdict);
    }
    // With no copy of the program's left, remove takes the environment's.
    control::remove("-switches::db").unwrap();
    for d in diagnose().sites() {
        println!("REMOVED {} {}", d.site.qualified_name(), d.verdict);
    }
    for d in diagnose().unmatched_directives() {
        println!("UNMATCHED {d}");
    }
}

fn run_child(directives: &str) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_reads_the_environment",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("INSTRUMENT_ONCE_TEST_CHILD", "1")
        .env("INSTRUMENT_ONCE", directives)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_environment_variable_is_read_once_and_reported() {
    let out = run_child("-switches::db, bogus!, +switches::db::load, -*::hot_*");
    assert!(
        out.contains("VERDICT switches::db::load recording"),
        "{out}"
    );
    assert!(out.contains("VERDICT switches::db::store disabled by directive `-switches::db` from INSTRUMENT_ONCE"), "{out}");
    assert!(
        out.contains(
            "VERDICT switches::db::hot_path disabled by directive `-*::hot_*` from INSTRUMENT_ONCE"
        ),
        "{out}"
    );
    assert!(out.contains("VERDICT switches::other recording"), "{out}");
    assert!(out.contains("INVALID bogus!"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("LOG event") && l.contains("level=WARN") && l.contains("`bogus!`")),
        "invalid directives are reported as a tracing warning: {out}"
    );
    assert!(out.contains("LOG new load"), "{out}");
    assert!(!out.contains("LOG new hot_path"), "{out}");
    // control::add keeps the environment's directives, each with its source.
    assert!(
        out.contains(
            "AFTER switches::db::store disabled by directive `-switches::db` from INSTRUMENT_ONCE"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "AFTER switches::other disabled by directive `-switches::other` from the program"
        ),
        "{out}"
    );
    // control::remove takes one out, whatever its source.
    assert!(
        out.contains(
            "UNDONE switches::db::store disabled by directive `-switches::db` from INSTRUMENT_ONCE"
        ),
        "{out}"
    );
    assert!(
        out.contains("REMOVED switches::db::store never called"),
        "{out}"
    );
    assert!(
        out.contains("REMOVED switches::other disabled by directive `-switches::other`"),
        "{out}"
    );

    // A pattern that matches nothing (the wrong case) is warned about at
    // start-up and listed by diagnose().
    let out = run_child("-Switches::Db");
    assert!(
        out.lines().any(|l| l.contains("LOG event")
            && l.contains("level=WARN")
            && l.contains("`-Switches::Db`")
            && l.contains("matches no instrumented function")),
        "{out}"
    );
    assert!(out.contains("UNMATCHED -Switches::Db"), "{out}");

    let out = run_child("off");
    assert!(
        out.contains("VERDICT switches::other disabled by directive `off`"),
        "{out}"
    );
    assert!(!out.contains("LOG new"), "{out}");
}
