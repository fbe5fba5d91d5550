//! Shared helpers of the integration tests: a subscriber that records
//! everything `tracing` tells it as plain lines, so two instrumentations can
//! be compared line by line.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Lines recorded by a [`Recorder`].
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Takes the recorded lines.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines())
    }

    fn lines(&self) -> MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, line: String) {
        self.lines().push(line);
    }
}

/// A layer that records span creation (name, target, level, parent, fields),
/// records, follows-from, enter, exit, close and events (with their parent).
pub struct Recorder {
    log: Log,
}

impl Recorder {
    /// A recorder writing to `log`.
    pub fn new(log: Log) -> Recorder {
        Recorder { log }
    }
}

/// Recorded fields, each with the kind of value `tracing` was given
/// (`name:str="x"`, `name:u64=1`, `name:debug=..`), so a parameter recorded
/// through `Debug` where the other side records a value shows.
struct Fields(String);

impl Fields {
    fn put(&mut self, field: &Field, kind: &str, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}:{kind}={value:?}", field.name());
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, "f64", &value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, "i64", &value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, "u64", &value);
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, "i128", &value);
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, "u128", &value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, "bool", &value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, "str", &value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, "error", &format_args!("{value}"));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, "debug", value);
    }
}

fn name_of<S>(ctx: &Context<'_, S>, id: &Id) -> String
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span(id)
        .map_or_else(|| "?".into(), |s| s.name().to_owned())
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, ctx: Context<'_, S>) {
        let parent = if attrs.is_root() {
            "root".to_owned()
        } else if let Some(p) = attrs.parent() {
            format!("explicit:{}", name_of(&ctx, p))
        } else {
            ctx.lookup_current()
                .map_or_else(|| "none".to_owned(), |s| format!("current:{}", s.name()))
        };
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        let m = attrs.metadata();
        self.log.push(format!(
            "new {} target={} level={} parent={}{} names={:?}",
            m.name(),
            normalize(m.target()),
            m.level(),
            parent,
            fields.0,
            m.fields().iter().map(|f| f.name()).collect::<Vec<_>>()
        ));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        self.log
            .push(format!("record {}{}", name_of(&ctx, id), fields.0));
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        self.log.push(format!(
            "follows {} -> {}",
            name_of(&ctx, id),
            name_of(&ctx, follows)
        ));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let parent = ctx
            .event_span(event)
            .map_or_else(|| "none".to_owned(), |s| s.name().to_owned());
        let m = event.metadata();
        self.log.push(format!(
            "event target={} level={} in={}{}",
            normalize(m.target()),
            m.level(),
            parent,
            fields.0
        ));
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.log.push(format!("enter {}", name_of(&ctx, id)));
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.log.push(format!("exit {}", name_of(&ctx, id)));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.log.push(format!("close {}", name_of(&ctx, &id)));
    }
}

/// Twin functions live in modules `t` (tracing) and `o` (ours); their
/// targets differ only in that last segment.
fn normalize(target: &str) -> String {
    for suffix in ["::t", "::o"] {
        if let Some(stem) = target.strip_suffix(suffix) {
            return format!("{stem}::<twin>");
        }
    }
    target.to_owned()
}

/// Runs `f` with a recording subscriber as the thread's default (at `max`
/// level and below) and returns what it recorded.
pub fn record<R>(max: tracing::Level, f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let log = Log::default();
    let subscriber = tracing_subscriber::registry()
        .with(Recorder { log: log.clone() })
        .with(tracing_subscriber::filter::LevelFilter::from_level(max));
    let out = tracing::subscriber::with_default(subscriber, f);
    (out, log.take())
}

/// Serialises tests that change process-wide switches (directives, timing,
/// the depth ceiling) within one test binary.
pub fn global_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The site of a function by its path relative to the calling module.
#[macro_export]
macro_rules! site {
    ($($path:tt)*) => {
        ::instrument_once::registry()
            .get(concat!(module_path!(), "::", stringify!($($path)*)).replace(' ', "").as_str())
            .unwrap_or_else(|| panic!("no site {}", stringify!($($path)*)))
    };
}

/// Returns `Pending` once (waking itself), then `Ready`: makes an async
/// function yield, so its span exits and is entered again.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

/// Runs `f(0)`, ..., `f(n - 1)` on `n` threads that start together (they
/// wait for each other first), and returns the results in order once every
/// thread has exited (its thread-local destructors included).
pub fn together<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                scope.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}
