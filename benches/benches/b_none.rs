//! Every variant with the global subscriber set up as `none`.
#![allow(missing_docs)]

mod common;

fn main() {
    common::run("none", true);
}
