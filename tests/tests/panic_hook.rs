//! Installing a panic hook twice under one key reports a panic once (its own
//! binary: the panic hook is process-wide).
#![allow(missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};

static REPORTED: AtomicUsize = AtomicUsize::new(0);
static NAIVE: AtomicUsize = AtomicUsize::new(0);

fn report(_: &std::panic::PanicHookInfo<'_>) {
    REPORTED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn installed_twice_reports_once_where_naive_chaining_reports_twice() {
    assert!(instrument_once::hook::install_panic_hook_once(
        "crash_reporter",
        report
    ));
    assert!(!instrument_once::hook::install_panic_hook_once(
        "crash_reporter",
        report
    ));
    // The everyday alternative: each initialisation chains another hook.
    for _ in 0..2 {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            NAIVE.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    }
    let _ = std::panic::catch_unwind(|| panic!("one panic"));
    assert_eq!(REPORTED.load(Ordering::SeqCst), 1);
    assert_eq!(NAIVE.load(Ordering::SeqCst), 2);
    // In the same test: the panic hook is process-wide.
    installing_while_panicking_does_not_abort();
}

static INSTALLED_WHILE_PANICKING: AtomicUsize = AtomicUsize::new(0);

/// Installs a hook from its destructor.
struct InstallsOnDrop;

impl Drop for InstallsOnDrop {
    fn drop(&mut self) {
        let installed = instrument_once::hook::install_panic_hook_once("late", report);
        INSTALLED_WHILE_PANICKING.store(1 + usize::from(installed), Ordering::SeqCst);
    }
}

/// Called from a destructor while the thread unwinds, the install changes
/// nothing (the standard library would abort the process) and says so; once
/// the thread is no longer panicking, the same key installs.
fn installing_while_panicking_does_not_abort() {
    let result = std::panic::catch_unwind(|| {
        let _installs = InstallsOnDrop;
        panic!("unwinding through a destructor that installs a hook");
    });
    assert!(result.is_err());
    assert_eq!(
        INSTALLED_WHILE_PANICKING.load(Ordering::SeqCst),
        1,
        "ran, installed nothing"
    );
    assert!(instrument_once::hook::install_panic_hook_once(
        "late", report
    ));
}
