//! tracing-attributes' `tests/names.rs`, rewritten onto `#[instrument_once]`
//! by `build.rs` (upstream code is derived at build time, never committed).
#![allow(clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/names.rs"));
