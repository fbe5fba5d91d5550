//! Every variant with the global subscriber set up as `registry_nop`.
#![allow(missing_docs)]

mod common;

fn main() {
    common::run("registry_nop", false);
}
