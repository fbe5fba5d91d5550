//! The variants measured by the benchmarks: one tiny function, `work`,
//! under each instrumentation. Every variant is `#[inline(never)]` and has
//! the same body, so a difference in cost is the instrumentation's.
#![allow(missing_docs, clippy::missing_panics_doc)]
// The body is inlined into every variant so all of them do the same work;
// the async variants have no `.await` on purpose: they measure the wrapper.
#![allow(clippy::inline_always, clippy::unused_async)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Instant;

use instrument_once::{instrument_once, request};

/// A few arithmetic operations.
#[inline(always)]
fn body(x: u64) -> u64 {
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ (x >> 7)).wrapping_add(3)
}

#[inline(never)]
pub fn work_bare(x: u64) -> u64 {
    body(x)
}

#[inline(never)]
#[tracing::instrument]
pub fn work_tracing(x: u64) -> u64 {
    body(x)
}

#[inline(never)]
#[tracing::instrument(level = "trace")]
pub fn work_tracing_trace(x: u64) -> u64 {
    body(x)
}

#[inline(never)]
#[fastrace::trace]
pub fn work_fastrace(x: u64) -> u64 {
    body(x)
}

#[inline(never)]
#[autometrics::autometrics]
pub fn work_autometrics(x: u64) -> u64 {
    body(x)
}

pub static CALLS: AtomicU64 = AtomicU64::new(0);

/// The floor of counting and timing by hand: one atomic add, two clock reads.
#[inline(never)]
pub fn work_floor(x: u64) -> u64 {
    let t0 = Instant::now();
    let r = body(x);
    CALLS.fetch_add(1, Relaxed);
    black_box(t0.elapsed());
    r
}

/// Spans only: no counters, no clock.
#[inline(never)]
#[instrument_once(stats = false)]
pub fn work_io_spans(x: u64) -> u64 {
    body(x)
}

/// Spans at TRACE (for the "filtered by level" setup).
#[inline(never)]
#[instrument_once(stats = false, level = "trace")]
pub fn work_io_spans_trace(x: u64) -> u64 {
    body(x)
}

/// Spans and counters, no clock.
#[inline(never)]
#[instrument_once(timing = false)]
pub fn work_io_counters(x: u64) -> u64 {
    body(x)
}

/// Spans and counters, no clock, with a `repeats_by` key (a short string,
/// as a user id would be).
#[inline(never)]
#[instrument_once(timing = false, repeats_by(user))]
pub fn work_io_repeats(user: &str, x: u64) -> u64 {
    body(x ^ user.len() as u64)
}

/// The key every `work_io_repeats` call of the benchmarks passes: a short
/// string, so every call inside a request after the first is a repeat.
pub const USER_KEY: &str = "auth0|5f3c1a";

macro_rules! distinct {
    ($($f:ident)*) => {
        $(
            /// One of ten distinct counted functions a request calls.
            #[inline(never)]
            #[instrument_once(timing = false)]
            pub fn $f(x: u64) -> u64 {
                body(x)
            }
        )*
        /// Calls each of the ten once.
        #[inline(never)]
        pub fn call_ten(x: u64) -> u64 {
            0 $(+ $f(x))*
        }
    };
}
distinct!(d0 d1 d2 d3 d4 d5 d6 d7 d8 d9);

/// The default: spans, counters and latency.
#[inline(never)]
#[instrument_once]
pub fn work_io_timed(x: u64) -> u64 {
    body(x)
}

/// Switched off by [`switch_off`] before measuring.
#[inline(never)]
#[instrument_once]
pub fn work_io_off(x: u64) -> u64 {
    body(x)
}

/// Counters with a depth limit.
#[inline(never)]
#[instrument_once(timing = false, max_depth = 64)]
pub fn work_io_max_depth(x: u64) -> u64 {
    body(x)
}

/// Spans plus depth bookkeeping (a limit), no counters: against
/// `work_io_spans` this isolates the cost of depth tracking.
#[inline(never)]
#[instrument_once(stats = false, max_depth = 1000)]
pub fn work_io_depth_only(x: u64) -> u64 {
    body(x)
}

/// Turns `work_io_off` and `adyn_io_off` off.
pub fn switch_off() {
    for name in ["work_io_off", "adyn_io_off"] {
        instrument_once::registry()
            .get(&format!("{}::{name}", module_path!()))
            .expect("registered")
            .set_enabled(false);
    }
}

/// Recursion four levels deep, bare.
#[inline(never)]
pub fn rec_bare(n: u32, x: u64) -> u64 {
    if n == 0 {
        body(x)
    } else {
        rec_bare(n - 1, black_box(x)) ^ 1
    }
}

/// The same recursion, instrumented once at the outermost call.
#[inline(never)]
#[instrument_once(recursion = "outermost", timing = false)]
pub fn rec_io_outermost(n: u32, x: u64) -> u64 {
    if n == 0 {
        body(x)
    } else {
        rec_io_outermost(n - 1, black_box(x)) ^ 1
    }
}

pub async fn awork_bare(x: u64) -> u64 {
    body(x)
}

#[tracing::instrument]
pub async fn awork_tracing(x: u64) -> u64 {
    body(x)
}

#[instrument_once(stats = false)]
pub async fn awork_io_spans(x: u64) -> u64 {
    body(x)
}

#[instrument_once(timing = false)]
pub async fn awork_io_counters(x: u64) -> u64 {
    body(x)
}

/// The same four async functions again, polled only through `dyn Future`
/// ([`block_on_dyn`]): functions of their own, so that taking their poll's
/// address does not change how the compiler treats the ones above (a poll
/// function with a single call site is inlined into it; one whose address
/// is taken for a vtable loses that).
pub async fn adyn_bare(x: u64) -> u64 {
    body(x)
}

#[tracing::instrument]
pub async fn adyn_tracing(x: u64) -> u64 {
    body(x)
}

#[instrument_once(stats = false)]
pub async fn adyn_io_spans(x: u64) -> u64 {
    body(x)
}

#[instrument_once(timing = false)]
pub async fn adyn_io_counters(x: u64) -> u64 {
    body(x)
}

/// The same options, switched off by [`switch_off`] before measuring.
#[instrument_once(timing = false)]
pub async fn adyn_io_off(x: u64) -> u64 {
    body(x)
}

/// Polls a future that completes at once, with a no-op waker.
pub fn block_on_noop<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the benchmarked futures complete on their first poll"),
    }
}

/// Polls a future that completes at once through `dyn Future`, as an
/// executor polls a task: the poll is compiled apart from where the future
/// was built, so nothing of its state folds into constants.
pub fn block_on_dyn<F: Future<Output = u64>>(f: F) -> u64 {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    match poll_dyn(f.as_mut(), &mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the benchmarked futures complete on their first poll"),
    }
}

#[inline(never)]
fn poll_dyn(f: std::pin::Pin<&mut dyn Future<Output = u64>>, cx: &mut Context<'_>) -> Poll<u64> {
    f.poll(cx)
}

/// A layer that does nothing: `registry()` alone never frees closed spans
/// (tracing issue 900), so the registry is measured with this layer on it.
pub struct NopLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NopLayer {}

/// Installs the global subscriber of a setup: `none`, `filtered` (fmt to a
/// sink at INFO, so TRACE spans are filtered out), `registry_nop`,
/// `fmt_sink`.
pub fn install(setup: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    match setup {
        "none" => {}
        "filtered" => tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(std::io::sink)
            .init(),
        "registry_nop" => tracing_subscriber::registry().with(NopLayer).init(),
        "fmt_sink" => tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
            .init(),
        other => panic!("unknown setup {other}"),
    }
}

/// A boxed closure, the usual way to keep a function value in a table.
pub static BOXED: std::sync::LazyLock<Box<dyn Fn(u64) -> u64 + Send + Sync>> =
    std::sync::LazyLock::new(|| Box::new(body));

/// A hook slot holding the same function, with no layer.
pub static SLOT_BARE: std::sync::LazyLock<instrument_once::hook::HookSlot<u64, u64>> =
    std::sync::LazyLock::new(|| instrument_once::hook::HookSlot::new("bench::bare", body));

/// A hook slot with one pass-through layer (the layer is counted).
pub static SLOT_WRAPPED: std::sync::LazyLock<instrument_once::hook::HookSlot<u64, u64>> =
    std::sync::LazyLock::new(|| {
        let slot = instrument_once::hook::HookSlot::new("bench::wrapped", body);
        slot.wrap_once("pass", |inner| std::sync::Arc::new(move |x| inner(x)));
        slot
    });

/// The floor of one counted layer: a boxed closure that counts its calls
/// (an atomic add, as a slot's layer does) and calls another boxed closure.
pub static BOXED_NESTED: std::sync::LazyLock<Box<dyn Fn(u64) -> u64 + Send + Sync>> =
    std::sync::LazyLock::new(|| {
        let inner: Box<dyn Fn(u64) -> u64 + Send + Sync> = Box::new(body);
        Box::new(move |x| {
            LAYER_CALLS.fetch_add(1, Relaxed);
            inner(x)
        })
    });

/// What [`BOXED_NESTED`] counts.
pub static LAYER_CALLS: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
pub fn call_boxed(x: u64) -> u64 {
    BOXED(x)
}

#[inline(never)]
pub fn call_boxed_nested(x: u64) -> u64 {
    BOXED_NESTED(x)
}

#[inline(never)]
pub fn call_slot_bare(x: u64) -> u64 {
    SLOT_BARE.call(x)
}

#[inline(never)]
pub fn call_slot_wrapped(x: u64) -> u64 {
    SLOT_WRAPPED.call(x)
}

/// A fastrace reporter that drops every span.
pub struct DiscardReporter;

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        drop(black_box(spans));
    }
}

/// `n` calls of `work_fastrace` under root spans of 1000 calls each (a root
/// holds a bounded queue of local spans, so one root per million calls
/// would measure the queue's overflow instead).
pub fn fastrace_rooted_calls(n: u64) -> u64 {
    use fastrace::collector::SpanContext;
    let mut acc = 0u64;
    let mut done = 0;
    while done < n {
        let batch = (n - done).min(1000);
        let root = fastrace::Span::root("root", SpanContext::random());
        let _parent = root.set_local_parent();
        for i in 0..batch {
            acc = acc.wrapping_add(black_box(work_fastrace(black_box(done + i))));
        }
        done += batch;
    }
    acc
}

/// Calls `variant` `n` times (the names `benches/icount.sh` and the `ab`
/// binary take, but for `async_dyn_*`: see [`run_variant`]) and returns a sum of the results, so nothing is optimised
/// away.
///
/// # Panics
///
/// On an unknown variant name.
#[inline(never)]
pub fn run(variant: &str, n: u64) -> u64 {
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
        "hook_boxed_nested" => each!(call_boxed_nested),
        "hook_slot_no_layer" => each!(call_slot_bare),
        "hook_slot_one_layer" => each!(call_slot_wrapped),
        "async_bare" => each!(|x| block_on_noop(awork_bare(x))),
        "async_tracing" => each!(|x| block_on_noop(awork_tracing(x))),
        "async_io_spans" => each!(|x| block_on_noop(awork_io_spans(x))),
        "async_io_counters" => each!(|x| block_on_noop(awork_io_counters(x))),
        // The request profile: counted calls inside one long request (the
        // scope's cost is not in these), the same call with a short string
        // `repeats_by` key outside and inside a request, and whole requests
        // (a scope opened and closed each iteration) calling nothing or ten
        // distinct functions once each.
        "req_counters" => request::scope("bench", || each!(work_io_counters)),
        "io_repeats" => each!(|x| work_io_repeats(black_box(USER_KEY), x)),
        "req_repeats" => request::scope("bench", || {
            each!(|x| work_io_repeats(black_box(USER_KEY), x));
        }),
        "ten" => each!(call_ten),
        "scope_empty" => each!(|x| request::scope("bench", || x)),
        "scope_ten" => each!(|x| request::scope("bench", || call_ten(x))),
        other => panic!("unknown variant {other}"),
    }
    acc
}

/// Calls `variant` `n` times: [`run`]'s variants, and the async ones
/// polled apart from where they are built (`async_dyn_*`).
///
/// # Panics
///
/// On an unknown variant name.
pub fn run_variant(variant: &str, n: u64) -> u64 {
    run_polled_apart(variant, n).unwrap_or_else(|| run(variant, n))
}

/// The async variants polled through `dyn Future` ([`block_on_dyn`]), as
/// an executor polls a task. In [`run`]'s async rows the future is polled
/// where it is built, and the compiler inlines the poll there, so what
/// the future holds folds into constants: those rows flatter every
/// instrumented future.
#[inline(never)]
fn run_polled_apart(variant: &str, n: u64) -> Option<u64> {
    let f: fn(u64) -> u64 = match variant {
        "async_dyn_bare" => |x| block_on_dyn(adyn_bare(x)),
        "async_dyn_tracing" => |x| block_on_dyn(adyn_tracing(x)),
        "async_dyn_io_spans" => |x| block_on_dyn(adyn_io_spans(x)),
        "async_dyn_io_counters" => |x| block_on_dyn(adyn_io_counters(x)),
        "async_dyn_io_off" => |x| block_on_dyn(adyn_io_off(x)),
        _ => return None,
    };
    let mut acc = 0u64;
    for i in 0..n {
        acc = acc.wrapping_add(black_box(f(black_box(i))));
    }
    Some(acc)
}
