//! Interleaved timing of variants in one process: every round times each
//! variant once (`N` calls), so slow drift of a shared machine hits all of
//! them alike; prints the median ns/call of each and its ratio to the first.
//!
//! `cargo run --release -p instrument-once-benches --bin ab -- SETUP ROUNDS N VARIANT...`
//! (variant names as in `benches/icount.sh`), for example
//! `ab none 41 2000000 bare io_spans io_depth_only io_counters`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use instrument_once_benches::{install, run_variant as run, switch_off};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: ab SETUP ROUNDS N VARIANT...";
    assert!(args.len() >= 4, "{usage}");
    let rounds: usize = args[1].parse().expect(usage);
    let n: u64 = args[2].parse().expect(usage);
    let variants = &args[3..];
    install(&args[0]);
    switch_off();
    for v in variants {
        black_box(run(v, n / 10 + 1));
    }
    let mut samples = vec![Vec::with_capacity(rounds); variants.len()];
    for _ in 0..rounds {
        for (i, v) in variants.iter().enumerate() {
            let t = Instant::now();
            black_box(run(v, n));
            #[allow(clippy::cast_precision_loss)]
            samples[i].push(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    println!("{:<22} {:>10} {:>8}", "variant", "ns/call", "ratio");
    for (v, m) in variants.iter().zip(&medians) {
        println!("{v:<22} {m:>10.3} {:>8.2}", m / medians[0]);
    }
}
