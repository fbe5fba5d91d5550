//! fastrace recording for real: a discarding reporter, and calls traced
//! under a root span (in batches of 1000 per root, and one root per call).
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use instrument_once_benches::{fastrace_rooted_calls, work_bare, work_fastrace, DiscardReporter};

mod common;

fn main() {
    fastrace::set_reporter(DiscardReporter, fastrace::collector::Config::default());
    let mut c = common::config();
    let mut g = c.benchmark_group("fastrace_root");
    g.bench_function("sync/bare", |b| b.iter(|| work_bare(black_box(7))));
    g.bench_function("sync/fastrace_root_batch1000", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            black_box(fastrace_rooted_calls(iters));
            start.elapsed()
        });
    });
    g.bench_function("sync/fastrace_root_per_call", |b| {
        b.iter(|| {
            let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
            let _parent = root.set_local_parent();
            work_fastrace(black_box(7))
        });
    });
    g.finish();
    fastrace::flush();
    c.final_summary();
}
