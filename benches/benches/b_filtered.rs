//! A subscriber whose maximum level (INFO) filters the TRACE spans out.
#![allow(missing_docs)]

use std::hint::black_box;

use instrument_once_benches::{install, work_bare, work_io_spans_trace, work_tracing_trace};

mod common;

fn main() {
    install("filtered");
    let mut c = common::config();
    let mut g = c.benchmark_group("filtered");
    g.bench_function("sync/bare", |b| {
        b.iter(|| work_bare(black_box(7)));
    });
    g.bench_function("sync/tracing_instrument_trace", |b| {
        b.iter(|| work_tracing_trace(black_box(7)));
    });
    g.bench_function("sync/io_spans_only_trace", |b| {
        b.iter(|| work_io_spans_trace(black_box(7)));
    });
    g.finish();
    c.final_summary();
}
