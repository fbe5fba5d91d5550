//! Driver for deterministic instruction counts under callgrind:
//! `valgrind --tool=callgrind --toggle-collect=icount::run target/release/icount SETUP VARIANT N`.
//! `benches/icount.sh` runs each variant at two N and divides the difference,
//! so set-up, first-call registration and exit cancel out.
#![allow(missing_docs)]

use std::hint::black_box;

use instrument_once_benches::{install, switch_off};

/// Collected by callgrind (`--toggle-collect=icount::run`).
#[inline(never)]
fn run(variant: &str, n: u64) -> u64 {
    instrument_once_benches::run_variant(variant, n)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let setup = args
        .next()
        .expect("setup: none | filtered | registry_nop | fmt_sink");
    let variant = args.next().expect("variant");
    let n: u64 = args.next().expect("n").parse().expect("a number");
    install(&setup);
    switch_off();
    // One warm-up call registers the site (and calibrates the clock, which
    // takes a time, not a number of instructions) outside the collected
    // function: the library's `run`, not this binary's.
    black_box(instrument_once_benches::run_variant(&variant, 1));
    println!("{}", run(&variant, n));
}
