//! Exists because `links = "instrument_once_registry"` in Cargo.toml needs a
//! build script: that key makes Cargo refuse a second, incompatible copy of
//! this crate in one dependency graph (one registry per binary).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
