//! Shared benchmark groups: every variant of `work` measured in one process
//! under the subscriber the binary installed, so ratios are of one run.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use instrument_once_benches::{
    awork_bare, awork_io_counters, awork_io_spans, awork_tracing, block_on_noop, call_boxed,
    call_boxed_nested, call_slot_bare, call_slot_wrapped, install, rec_bare, rec_io_outermost,
    switch_off, work_autometrics, work_bare, work_fastrace, work_floor, work_io_counters,
    work_io_depth_only, work_io_max_depth, work_io_off, work_io_spans, work_io_timed, work_tracing,
};

pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
        .configure_from_args()
}

const X: u64 = 0x1234_5678;

macro_rules! variant {
    ($g:expr, $name:expr, $f:expr) => {
        $g.bench_function($name, |b| b.iter(|| $f(black_box(X))))
    };
}

/// The sync variants of ours and the peers, with the two baselines.
pub fn sync(g: &mut BenchmarkGroup<'_, WallTime>, peers: bool) {
    variant!(g, "sync/bare", work_bare);
    variant!(g, "sync/tracing_instrument", work_tracing);
    if peers {
        variant!(g, "sync/fastrace_no_reporter", work_fastrace);
        variant!(g, "sync/autometrics", work_autometrics);
        variant!(g, "sync/floor_count_and_instant_pair", work_floor);
    }
    variant!(g, "sync/io_spans_only", work_io_spans);
    variant!(g, "sync/io_counters", work_io_counters);
    variant!(g, "sync/io_counters_and_timing", work_io_timed);
    variant!(g, "sync/io_switched_off", work_io_off);
    variant!(g, "sync/io_max_depth", work_io_max_depth);
    variant!(g, "sync/io_spans_and_depth_only", work_io_depth_only);
    g.bench_function("sync/recursive4_bare", |b| {
        b.iter(|| rec_bare(4, black_box(X)));
    });
    g.bench_function("sync/recursive4_io_outermost", |b| {
        b.iter(|| rec_io_outermost(4, black_box(X)));
    });
}

/// A call through a hook slot against a direct call and a boxed closure.
pub fn hooks(g: &mut BenchmarkGroup<'_, WallTime>) {
    variant!(g, "hook/direct", work_bare);
    variant!(g, "hook/box_dyn_fn", call_boxed);
    variant!(g, "hook/box_dyn_fn_nested_counted", call_boxed_nested);
    variant!(g, "hook/slot_no_layer", call_slot_bare);
    variant!(g, "hook/slot_one_layer", call_slot_wrapped);
}

pub fn asyncs(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function("async/bare", |b| {
        b.iter(|| block_on_noop(awork_bare(black_box(X))));
    });
    g.bench_function("async/tracing_instrument", |b| {
        b.iter(|| block_on_noop(awork_tracing(black_box(X))));
    });
    g.bench_function("async/io_spans_only", |b| {
        b.iter(|| block_on_noop(awork_io_spans(black_box(X))));
    });
    g.bench_function("async/io_counters", |b| {
        b.iter(|| block_on_noop(awork_io_counters(black_box(X))));
    });
    g.bench_function("async/bare_futures_block_on", |b| {
        b.iter(|| futures::executor::block_on(awork_bare(black_box(X))));
    });
    g.bench_function("async/io_counters_futures_block_on", |b| {
        b.iter(|| futures::executor::block_on(awork_io_counters(black_box(X))));
    });
}

/// Runs `setup`'s groups: installs the subscriber, switches `work_io_off`
/// off, and measures.
pub fn run(setup: &str, peers: bool) {
    install(setup);
    switch_off();
    let mut c = config();
    let mut g = c.benchmark_group(setup);
    sync(&mut g, peers);
    asyncs(&mut g);
    if peers {
        hooks(&mut g);
    }
    g.finish();
    c.final_summary();
}
