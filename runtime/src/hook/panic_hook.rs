//! Installing a panic hook at most once per key.

use std::sync::{Mutex, PoisonError};

/// Installs a panic hook under `key` at most once: the hook runs `f` with the
/// panic's information, then calls the hook that was installed before it.
/// Installing again with the same key changes nothing, so two libraries (or
/// one library initialised twice) never report a panic twice.
///
/// `std::panic::set_hook` on top of `take_hook()` is the everyday Rust form
/// of the run-time wrapping this module guards: each call adds a layer.
///
/// Returns whether this call installed the hook. On a thread that is
/// panicking (from a destructor during unwinding) the panic hook cannot be
/// changed (the standard library would abort the process): the call
/// installs nothing, records nothing and returns `false`, so a later call
/// with the same key, once the thread is no longer panicking, installs it.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static REPORTED: AtomicUsize = AtomicUsize::new(0);
///
/// for _ in 0..2 {
///     instrument_once::hook::install_panic_hook_once("my_crash_reporter", |_info| {
///         REPORTED.fetch_add(1, Ordering::SeqCst);
///     });
/// }
/// let _ = std::panic::catch_unwind(|| panic!("boom"));
/// assert_eq!(REPORTED.load(Ordering::SeqCst), 1);
/// ```
pub fn install_panic_hook_once(
    key: &'static str,
    f: impl Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync + 'static,
) -> bool {
    static INSTALLED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    if std::thread::panicking() {
        return false;
    }
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if installed.contains(&key) {
        return false;
    }
    installed.push(key);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        f(info);
        previous(info);
    }));
    true
}
