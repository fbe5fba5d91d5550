//! The counters of one site: its blocks and what they share, the deepest
//! nesting, and the reset baseline.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::block::{Block, Shared};
use super::event::{Event, Outcome};
use super::histogram::Buckets;
use super::report::{Latency, Stats};

/// The sums of every block, before the reset baseline is subtracted.
#[derive(Clone)]
struct Raw {
    counts: [u64; Event::COUNT],
    sum_ns: u64,
    buckets: Buckets,
}

impl Raw {
    fn count(&self, event: Event) -> u64 {
        self.counts[event as usize]
    }

    /// Calls that finished.
    fn finished(&self) -> u64 {
        Event::outcomes().map(|e| self.count(e)).sum()
    }

    /// Takes `base` away, counter by counter and bucket by bucket.
    fn minus(&mut self, base: &Raw) {
        for (v, b) in self.counts.iter_mut().zip(base.counts) {
            *v -= b;
        }
        self.sum_ns = self.sum_ns.wrapping_sub(base.sum_ns);
        self.buckets.minus(&base.buckets);
    }
}

/// The counters of one site.
pub(crate) struct SiteStats {
    shared: Shared,
    deepest: AtomicU32,
    baseline: Mutex<Option<Box<Raw>>>,
}

impl SiteStats {
    crate::sync::const_unless_loom! {
        /// Zeroed counters, without blocks.
        pub(crate) fn new() -> SiteStats {
            SiteStats {
                shared: Shared::new(),
                deepest: AtomicU32::new(0),
                baseline: Mutex::new(None),
            }
        }
    }

    /// How many blocks this site holds.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn block_count(&self) -> usize {
        self.shared.block_count()
    }

    /// A block for the calling thread: a free one, or a new one.
    #[inline]
    pub(crate) fn new_block(&'static self) -> &'static Block {
        self.shared.new_block()
    }

    /// Counts a start without a thread-local block.
    pub(crate) fn start_shared(&self) {
        self.shared.start();
    }

    /// Counts an outcome without a thread-local block (`timed`: see
    /// [`Block::finish`](super::block::Block::finish)).
    pub(crate) fn finish_shared(&self, outcome: Outcome, elapsed_ns: Option<u64>, timed: bool) {
        self.shared.finish(outcome, elapsed_ns, timed);
    }

    /// Counts a step aside without a thread-local block.
    pub(crate) fn overflow_shared(&self) {
        self.shared.overflow();
    }

    /// Raises the deepest nesting seen to `depth`.
    #[inline]
    pub(crate) fn raise_deepest(&self, depth: u32) {
        if depth > self.deepest.load(Ordering::Relaxed) {
            self.raise_deepest_slow(depth);
        }
    }

    #[cold]
    #[inline(never)]
    fn raise_deepest_slow(&self, depth: u32) {
        self.deepest.fetch_max(depth, Ordering::Relaxed);
    }

    fn read_raw(&self) -> Raw {
        let mut counts = [0; Event::COUNT];
        let mut buckets = Buckets::new();
        let sum_ns = self.shared.read(&mut counts, &mut buckets);
        Raw {
            counts,
            sum_ns,
            buckets,
        }
    }

    /// The stats. `timed`: the function's options time it (`timing`);
    /// without, no return was timed, and none counted `untimed`.
    pub(crate) fn snapshot(&self, timed: bool) -> Stats {
        self.snapshot_with_buckets(timed).0
    }

    /// The stats, and the latency buckets (`timed`: as [`SiteStats::snapshot`]).
    pub(crate) fn snapshot_with_buckets(&self, timed: bool) -> (Stats, Buckets) {
        let baseline = self.baseline.lock().unwrap_or_else(PoisonError::into_inner);
        let mut raw = self.read_raw();
        if let Some(base) = baseline.as_deref() {
            raw.minus(base);
        }
        drop(baseline);
        let calls = raw.count(Event::Call);
        let (ok, errors) = (raw.count(Event::Ok), raw.count(Event::Err));
        let max_ns = self.shared.max_ns();
        let latency = Latency {
            // Every return but the untimed ones: with timing on, exactly
            // `ok + errors` (the same counters), in every snapshot. A
            // function without timing counts no `untimed`: none was timed.
            count: if timed {
                (ok + errors).saturating_sub(raw.count(Event::Untimed))
            } else {
                0
            },
            sum: Duration::from_nanos(raw.sum_ns),
            unbucketed: raw.count(Event::Unbucketed),
            ..Latency::from_buckets(&raw.buckets, max_ns)
        };
        let stats = Stats {
            calls,
            ok,
            errors,
            panics: raw.count(Event::Panic),
            cancelled: raw.count(Event::Cancelled),
            in_flight: calls - raw.finished(),
            // Calls at depth 1 do not note it (the common case stays a
            // register compare): any counted call was at depth 1 or more.
            deepest: self
                .deepest
                .load(Ordering::Relaxed)
                .max(u32::from(calls > 0)),
            depth_overflows: raw.count(Event::Overflow),
            latency,
        };
        (stats, raw.buckets)
    }

    pub(crate) fn reset(&self) {
        let mut baseline = self.baseline.lock().unwrap_or_else(PoisonError::into_inner);
        let mut raw = self.read_raw();
        // Calls in flight now will finish after the reset: count them as
        // started after it, so `in_flight` stays exact and never negative.
        raw.counts[Event::Call as usize] = raw.finished();
        *baseline = Some(Box::new(raw));
        self.deepest.store(0, Ordering::Relaxed);
        self.shared.reset_max();
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

    #[allow(clippy::cast_precision_loss)]
    fn check_distribution(name: &str, samples: &[u64]) {
        let stats: &'static SiteStats = Box::leak(Box::new(SiteStats::new()));
        // Spread over blocks, as threads would.
        let blocks: Vec<&Block> = (0..4).map(|_| stats.new_block()).collect();
        for (i, ns) in samples.iter().enumerate() {
            let block = blocks[i % blocks.len()];
            block.start();
            block.finish_timed(Outcome::Ok, *ns);
        }
        let l = stats.snapshot(true).latency;
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        for (q, got) in [(0.5, l.p50), (0.9, l.p90), (0.99, l.p99)] {
            let want = exact(&sorted, q);
            #[allow(clippy::cast_precision_loss)]
            let off = (got.as_nanos() as f64 - want as f64).abs();
            // The bucket's bound, plus half a nanosecond: a percentile is
            // a whole number of nanoseconds.
            assert!(
                off <= 0.0443 * want as f64 + 0.5,
                "{name} p{q}: got {got:?}, exact {want} ns, error {:.4}",
                off / want as f64
            );
        }
        assert_eq!(l.count, samples.len() as u64);
        assert_eq!(l.max.as_nanos(), u128::from(*sorted.last().unwrap()));
    }

    #[test]
    fn every_path_of_a_timed_return_counts_its_bucket_once() {
        // The first value (window unplaced), values inside the window (the
        // call-free path), a new longest, 0 ns, values below and above the
        // window (a slide, then the spill), back inside: each counted once,
        // in its own bucket, on one block as on another.
        let values = [
            5_000u64,
            5_000,
            4_000,
            9_000,
            0,
            0,
            6_000,
            3,
            70,
            1 << 40,
            5_001,
            2,
            1 << 20,
            8_192,
            8_193,
            5_000,
        ];
        let stats: &'static SiteStats = Box::leak(Box::new(SiteStats::new()));
        let block = stats.new_block();
        let mut want = Buckets::new();
        let mut longest = 0;
        for ns in values {
            block.start();
            block.finish_timed(Outcome::Ok, ns);
            if ns == 0 {
                want.zero += 1;
            } else {
                want.add(super::super::histogram::index_of(ns), 1);
            }
            longest = longest.max(ns);
            let max = stats.snapshot(true).latency.max.as_nanos();
            assert_eq!(max, u128::from(longest), "after {ns} ns");
        }
        let (s, got) = stats.snapshot_with_buckets(true);
        assert_eq!(got, want);
        assert_eq!(s.latency.count, values.len() as u64);
        assert_eq!(s.latency.max.as_nanos(), 1 << 40);
        assert_eq!(
            s.latency.sum.as_nanos(),
            u128::from(values.iter().sum::<u64>())
        );
        assert_eq!((s.calls, s.ok), (16, 16));
    }

    #[test]
    fn percentiles_are_within_4_43_percent_of_exact_ones() {
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
