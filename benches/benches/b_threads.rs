//! Per-call cost on one hot function from 1, 2 and N (= available cores)
//! threads at once. Each sample runs the threads over the same number of
//! calls per thread and reports time per call per thread.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use instrument_once_benches::{switch_off, work_bare, work_floor, work_io_counters, work_io_timed};

mod common;

type Variant = (&'static str, fn(u64) -> u64);

fn per_call(threads: usize, iters: u64, f: fn(u64) -> u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for i in 0..iters {
                    black_box(f(black_box(i)));
                }
                start.elapsed()
            })
        })
        .collect();
    barrier.wait();
    // The slowest thread's time for `iters` calls: per call, per thread.
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap()
}

fn main() {
    switch_off();
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let mut c = common::config();
    let mut g = c.benchmark_group("threads");
    let variants: [Variant; 4] = [
        ("bare", work_bare),
        ("io_counters", work_io_counters),
        ("io_counters_and_timing", work_io_timed),
        ("floor_shared_counter", work_floor),
    ];
    let mut counts = vec![1, 2];
    if cores > 2 {
        counts.push(cores);
    }
    for (name, f) in variants {
        for &threads in &counts {
            g.bench_function(format!("{name}/{threads}_threads"), |b| {
                b.iter_custom(|iters| per_call(threads, iters, f));
            });
        }
    }
    g.finish();
    c.final_summary();
}
