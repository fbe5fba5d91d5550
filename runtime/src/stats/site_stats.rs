//! The counters of one site: its threads' blocks, the shared counters of
//! calls without a block, the histogram shards, and the reset baseline.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::block::{Block, Blocks};
use super::event::{new_counters, Counters, Event};
use super::histogram::{Shard, BUCKET_COUNT, SHARDS};
use super::report::{Latency, Stats};
use crate::sync::{lock, Mutex as SyncMutex, Ordering as SyncOrdering};

/// The sums of every block and shard, before the reset baseline is
/// subtracted.
#[derive(Clone)]
struct Raw {
    counts: [u64; Event::COUNT],
    sum_ns: u64,
    hist_ok: Vec<u64>,
    hist_err: Vec<u64>,
}

impl Raw {
    fn count(&self, event: Event) -> u64 {
        self.counts[event as usize]
    }

    /// Calls that finished: untimed outcomes and timed returns.
    fn finished(&self) -> u64 {
        Event::OUTCOMES.iter().map(|e| self.count(*e)).sum::<u64>()
            + self.hist_ok.iter().sum::<u64>()
            + self.hist_err.iter().sum::<u64>()
    }

    /// Takes `base` away, counter by counter and cell by cell.
    fn minus(&mut self, base: &Raw) {
        for (v, b) in self.counts.iter_mut().zip(base.counts) {
            *v -= b;
        }
        self.sum_ns = self.sum_ns.wrapping_sub(base.sum_ns);
        for (v, b) in self.hist_ok.iter_mut().zip(&base.hist_ok) {
            *v -= b;
        }
        for (v, b) in self.hist_err.iter_mut().zip(&base.hist_err) {
            *v -= b;
        }
    }
}

/// The counters of one site.
pub(crate) struct SiteStats {
    /// Calls made while their thread's thread-locals are being destroyed
    /// (from thread-local destructors at thread exit): atomic adds.
    shared: Counters,
    pub(super) blocks: SyncMutex<Blocks>,
    shards: [OnceLock<Box<Shard>>; SHARDS],
    deepest: AtomicU32,
    max_ns: AtomicU64,
    baseline: Mutex<Option<Box<Raw>>>,
}

crate::sync::const_unless_loom! {
    /// Zeroed counters, without blocks or shards.
    pub(crate) fn new_site_stats() -> SiteStats {
        SiteStats {
            shared: new_counters(),
            blocks: SyncMutex::new(Blocks {
                all: Vec::new(),
                free: Vec::new(),
            }),
            shards: [const { OnceLock::new() }; SHARDS],
            deepest: AtomicU32::new(0),
            max_ns: AtomicU64::new(0),
            baseline: Mutex::new(None),
        }
    }
}

impl SiteStats {
    /// How many blocks this site holds.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn block_count(&self) -> usize {
        lock(&self.blocks).all.len()
    }

    /// A block for the calling thread: a free one, or a new one.
    #[cold]
    #[inline(never)]
    pub(crate) fn new_block(&'static self) -> &'static Block {
        let mut blocks = lock(&self.blocks);
        if let Some(block) = blocks.free.pop() {
            return block;
        }
        let block: &'static Block = Box::leak(Box::new(Block::new(self)));
        blocks.all.push(block);
        block
    }

    /// Counts a start without a thread-local block.
    #[cold]
    pub(crate) fn start_shared(&self) {
        self.shared.add(Event::Call, SyncOrdering::Relaxed);
    }

    /// Counts an outcome without a thread-local block.
    #[cold]
    pub(crate) fn finish_shared(&self, outcome: Event, elapsed_ns: Option<u64>) {
        match (outcome, elapsed_ns) {
            (Event::Ok | Event::Err, Some(ns)) => self.record_timed(0, outcome, ns),
            _ => self.shared.add(outcome, SyncOrdering::Release),
        }
    }

    /// Counts a step aside without a thread-local block.
    #[cold]
    pub(crate) fn overflow_shared(&self) {
        self.shared.add(Event::Overflow, SyncOrdering::Relaxed);
    }

    /// Raises the deepest nesting seen to `depth`.
    #[inline]
    pub(crate) fn raise_deepest(&self, depth: u32) {
        if depth > self.deepest.load(Ordering::Relaxed) {
            self.deepest.fetch_max(depth, Ordering::Relaxed);
        }
    }

    /// Records a call that returned after `ns` nanoseconds, in histogram
    /// shard `shard`: the histogram is its only count (see the module docs).
    pub(super) fn record_timed(&self, shard: usize, outcome: Event, ns: u64) {
        let shard = self.shards[shard % SHARDS].get_or_init(|| Box::new(Shard::new()));
        if ns > self.max_ns.load(Ordering::Relaxed) {
            self.max_ns.fetch_max(ns, Ordering::Relaxed);
        }
        shard.record(outcome == Event::Err, ns);
    }

    /// Sums the blocks: every outcome first, the starts last (see the module
    /// documentation for why this order keeps `in_flight >= 0`).
    fn read_raw(&self) -> Raw {
        let mut raw = Raw {
            counts: [0; Event::COUNT],
            sum_ns: 0,
            hist_ok: vec![0; BUCKET_COUNT],
            hist_err: vec![0; BUCKET_COUNT],
        };
        // Held while reading, so no block is added half-way through.
        let blocks = lock(&self.blocks);
        self.shared.read_outcomes(&mut raw.counts);
        for block in &blocks.all {
            block.counters.read_outcomes(&mut raw.counts);
        }
        for shard in self.shards.iter().filter_map(OnceLock::get) {
            let sum = shard.read(&mut raw.hist_ok, &mut raw.hist_err);
            raw.sum_ns = raw.sum_ns.wrapping_add(sum);
        }
        self.shared.read_calls(&mut raw.counts);
        for block in &blocks.all {
            block.counters.read_calls(&mut raw.counts);
        }
        raw
    }

    pub(crate) fn snapshot(&self) -> Stats {
        self.snapshot_with_buckets().0
    }

    /// The stats, and the latency histogram (ok and errors merged).
    pub(crate) fn snapshot_with_buckets(&self) -> (Stats, Vec<u64>) {
        let baseline = self.baseline.lock().unwrap_or_else(PoisonError::into_inner);
        let mut raw = self.read_raw();
        if let Some(base) = baseline.as_deref() {
            raw.minus(base);
        }
        drop(baseline);
        let timed_ok: u64 = raw.hist_ok.iter().sum();
        let timed_err: u64 = raw.hist_err.iter().sum();
        let finished = raw.finished();
        let merged: Vec<u64> = raw
            .hist_ok
            .iter()
            .zip(&raw.hist_err)
            .map(|(a, b)| a + b)
            .collect();
        let max_ns = self.max_ns.load(Ordering::Relaxed);
        let calls = raw.count(Event::Call);
        let stats = Stats {
            calls,
            ok: raw.count(Event::Ok) + timed_ok,
            errors: raw.count(Event::Err) + timed_err,
            panics: raw.count(Event::Panic),
            cancelled: raw.count(Event::Cancelled),
            in_flight: calls - finished,
            // Calls at depth 1 do not note it (the common case stays a
            // register compare): any counted call was at depth 1 or more.
            deepest: self
                .deepest
                .load(Ordering::Relaxed)
                .max(u32::from(calls > 0)),
            depth_overflows: raw.count(Event::Overflow),
            latency: Latency::from_buckets(&merged, raw.sum_ns, max_ns),
        };
        (stats, merged)
    }

    pub(crate) fn reset(&self) {
        let mut baseline = self.baseline.lock().unwrap_or_else(PoisonError::into_inner);
        let mut raw = self.read_raw();
        // Calls in flight now will finish after the reset: count them as
        // started after it, so `in_flight` stays exact and never negative.
        raw.counts[Event::Call as usize] = raw.finished();
        *baseline = Some(Box::new(raw));
        self.deepest.store(0, Ordering::Relaxed);
        self.max_ns.store(0, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so the samples are the
    /// same on every run.
    struct Rng(u64);

    impl Rng {
        // 53 random bits over 2^53: exact in an f64.
        #[allow(clippy::cast_precision_loss)]
        fn next_f64(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64;
            x / (1u64 << 53) as f64
        }

        /// Standard normal (Box-Muller).
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.next_f64().max(1e-12), self.next_f64());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    fn exact(sorted: &[u64], q: f64) -> u64 {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn check_distribution(name: &str, samples: &[u64]) {
        let stats = new_site_stats();
        for (i, ns) in samples.iter().enumerate() {
            stats.start_shared();
            stats.record_timed(i, Event::Ok, *ns);
        }
        let l = stats.snapshot().latency;
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        for (q, got) in [(0.5, l.p50), (0.9, l.p90), (0.99, l.p99)] {
            let want = exact(&sorted, q);
            #[allow(clippy::cast_precision_loss)]
            let err = (got.as_nanos() as f64 - want as f64).abs() / want as f64;
            assert!(
                err <= 0.05,
                "{name} p{q}: got {got:?}, exact {want} ns, error {err:.4}"
            );
        }
        assert_eq!(l.count, samples.len() as u64);
        assert_eq!(l.max.as_nanos(), u128::from(*sorted.last().unwrap()));
    }

    #[test]
    fn percentiles_are_within_five_percent_of_exact_ones() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let uniform: Vec<u64> = (0..100_000)
            .map(|_| 50 + (rng.next_f64() * 1e6) as u64)
            .collect();
        check_distribution("uniform 50 ns..1 ms", &uniform);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let log_normal: Vec<u64> = (0..100_000)
            .map(|_| (10_000.0 * (1.5 * rng.normal()).exp()) as u64 + 50)
            .collect();
        check_distribution("log-normal around 10 µs", &log_normal);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bimodal: Vec<u64> = (0..100_000)
            .map(|i| {
                let (centre, spread) = if i % 10 < 7 {
                    (800.0, 100.0)
                } else {
                    (40e6, 5e6)
                };
                (centre + spread * rng.normal()).max(50.0) as u64
            })
            .collect();
        check_distribution("bimodal 800 ns / 40 ms", &bimodal);
        let wide: Vec<u64> = (0..10_000u32)
            .map(|i| 50 + u64::from(i).pow(3) * 100)
            .collect();
        check_distribution("50 ns..100 s", &wide);
    }
}
