//! Every variant with the global subscriber set up as `fmt_sink`.
#![allow(missing_docs)]

mod common;

fn main() {
    common::run("fmt_sink", false);
}
