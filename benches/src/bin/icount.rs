//! Driver for deterministic instruction counts under callgrind:
//! `valgrind --tool=callgrind --toggle-collect=icount::run target/release/icount SETUP VARIANT N`.
//! `benches/icount.sh` runs each variant at two N and divides the difference,
//! so set-up, first-call registration and exit cancel out.
#![allow(missing_docs)]

use std::hint::black_box;

use instrument_once_benches::{
    awork_bare, awork_io_counters, awork_io_spans, awork_tracing, block_on_noop, call_boxed,
    call_slot_bare, call_slot_wrapped, install, rec_bare, rec_io_outermost, switch_off,
    work_autometrics, work_bare, work_fastrace, work_floor, work_io_counters, work_io_depth_only,
    work_io_max_depth, work_io_off, work_io_spans, work_io_spans_trace, work_io_timed,
    work_tracing, work_tracing_trace,
};

#[inline(never)]
fn run(variant: &str, n: u64) -> u64 {
    let mut acc = 0u64;
    macro_rules! each {
        ($f:expr) => {
            for i in 0..n {
                acc = acc.wrapping_add(black_box($f(black_box(i))));
            }
        };
    }
    match variant {
        "empty" => each!(|x: u64| x),
        "bare" => each!(work_bare),
        "tracing" => each!(work_tracing),
        "tracing_trace" => each!(work_tracing_trace),
        "fastrace" => each!(work_fastrace),
        "autometrics" => each!(work_autometrics),
        "floor" => each!(work_floor),
        "io_spans" => each!(work_io_spans),
        "io_spans_trace" => each!(work_io_spans_trace),
        "io_counters" => each!(work_io_counters),
        "io_timed" => each!(work_io_timed),
        "io_off" => each!(work_io_off),
        "io_max_depth" => each!(work_io_max_depth),
        "io_depth_only" => each!(work_io_depth_only),
        "rec_bare" => each!(|x| rec_bare(4, x)),
        "rec_io_outermost" => each!(|x| rec_io_outermost(4, x)),
        "hook_boxed_fn" => each!(call_boxed),
        "hook_slot_no_layer" => each!(call_slot_bare),
        "hook_slot_one_layer" => each!(call_slot_wrapped),
        "async_bare" => each!(|x| block_on_noop(awork_bare(x))),
        "async_tracing" => each!(|x| block_on_noop(awork_tracing(x))),
        "async_io_spans" => each!(|x| block_on_noop(awork_io_spans(x))),
        "async_io_counters" => each!(|x| block_on_noop(awork_io_counters(x))),
        other => panic!("unknown variant {other}"),
    }
    acc
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
    // One warm-up call registers the site outside the measured function.
    black_box(run(&variant, 1));
    println!("{}", run(&variant, n));
}
