//! The UI suite's pass cases, compiled again here as modules so that
//! `cargo clippy --workspace --all-targets -- -D warnings` checks the code
//! `#[instrument_once]` generates for every supported form against
//! `clippy::pedantic` (each file denies warnings and pedantic lints), and run.

// `forms.rs` calls an `unsafe fn` on purpose: that block is its own.
#[allow(unsafe_code)]
#[path = "../../ui-tests/tests/ui/pass/forms.rs"]
pub mod forms;

#[path = "../../ui-tests/tests/ui/pass/crate-path.rs"]
pub mod crate_path;

#[path = "../../ui-tests/tests/ui/pass/type-shadowing.rs"]
pub mod type_shadowing;

#[test]
fn every_form_compiles_warning_free_and_runs() {
    forms::main();
}

#[test]
fn crate_path_compiles_warning_free_and_runs() {
    crate_path::main();
}

#[test]
fn type_shadowing_compiles_warning_free_and_runs() {
    type_shadowing::main();
}

#[path = "../../ui-tests/tests/ui/pass/forbid-unsafe-code.rs"]
pub mod forbid_unsafe_code;

#[test]
fn forbid_unsafe_code_compiles_and_runs() {
    forbid_unsafe_code::main();
}
