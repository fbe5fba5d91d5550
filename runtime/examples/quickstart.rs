//! Instrument a few functions, call them, and print what the registry knows.
//!
//! ```text
//! cargo run -p instrument-once --example quickstart
//! ```

use instrument_once::instrument_once;

/// A free function whose `Err` results are recorded as events and counted.
#[instrument_once(err)]
fn parse_port(s: &str) -> Result<u16, std::num::ParseIntError> {
    s.trim().parse()
}

/// An async function: its span is entered on every poll.
#[instrument_once(level = "debug", ret)]
async fn fetch_user(id: u64) -> String {
    format!("user-{id}")
}

#[derive(Debug, Default)]
struct Cache {
    hits: u64,
}

/// Every method of the block is instrumented once; `hit` overrides the
/// block's options and is still wrapped exactly once.
#[instrument_once(level = "debug")]
impl Cache {
    fn lookup(&mut self, key: &str) -> Option<usize> {
        if key.len() % 2 == 0 {
            Some(self.hit())
        } else {
            None
        }
    }

    #[instrument_once(level = "trace", skip(self))]
    fn hit(&mut self) -> usize {
        self.hits += 1;
        usize::try_from(self.hits).unwrap_or(usize::MAX)
    }
}

/// Bounded recursion: past 16 nested calls this returns `Err` instead of
/// overflowing the stack.
#[instrument_once(max_depth = 16, on_overflow = "error")]
fn depth_of(n: u32) -> Result<u32, instrument_once::DepthExceeded> {
    if n == 0 {
        Ok(0)
    } else {
        Ok(depth_of(n - 1)? + 1)
    }
}

/// Listed by the registry although it is never called.
#[instrument_once]
fn never_called() {}

fn main() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();

    for input in ["8080", " 443 ", "http"] {
        let _ = parse_port(input);
    }
    for id in 1..=3 {
        futures::executor::block_on(fetch_user(id));
    }
    let mut cache = Cache::default();
    for key in ["ab", "abc", "abcd", "a"] {
        cache.lookup(key);
    }
    let shallow = depth_of(5);
    let too_deep = depth_of(100);
    println!("depth_of(5)   = {shallow:?}");
    match too_deep {
        Ok(n) => println!("depth_of(100) = Ok({n})"),
        Err(e) => println!("depth_of(100) = Err: {e}"),
    }
    let _ = never_called;

    println!();
    println!("{}", instrument_once::registry().snapshot());
}
