//! Compile tests live in `tests/ui`; `tests/ui.rs` runs them.
