//! The classic (cumulative, `le`) latency buckets of the exports, and how
//! users choose their bounds: one layout for every function
//! ([`set_classic_bounds`]) and, where a function needs another range, one
//! of its own ([`set_classic_bounds_for`]).
//!
//! # The default layout
//!
//! `histogram_quantile` over classic buckets interpolates linearly inside
//! the bucket a quantile falls in, so its error grows with the ratio of a
//! bucket's bounds; and series are summed across instances bucket by
//! bucket, so every process must use the same bounds. The default,
//! [`ClassicBounds::QuarterOctaves`], puts the bounds `2^(1/4)` (19%)
//! apart from `2^13` ns (8.2 µs) to `2^33.5` ns (12.1 s): 83 buckets (and
//! `+Inf`) covering 10 µs to 10 s. Measured (this module's test
//! `quantiles_through_histogram_quantile_stay_within_ten_percent`: three
//! instances summed `by (le)` and read as Prometheus' `histogram_quantile`
//! reads them, log-normal latencies with medians from 15 µs to 2 s and
//! spreads from narrow, p99/p50 = 1.26, to wide, 16), p50/p90/p99 come out
//! within 10% of the exact quantiles. A latency that barely varies (a fixed
//! sleep, a cached answer) sitting just above a bound is the worst case:
//! up to 18% high. [`ClassicBounds::EighthOctaves`] (every bound of the
//! exponential buckets, 165 buckets) holds 10% for any distribution, at
//! twice the series; [`ClassicBounds::HalfOctaves`] halves them (42
//! buckets, `√2` apart) at errors up to about 25% for narrow distributions
//! (within 10% once p99 is at least 2.5 times p50). Both are bounds of the exponential scheme itself, so a classic
//! bucket is an exact sum of exponential buckets: nothing is approximated
//! before Prometheus interpolates. Bounds of your own
//! ([`ClassicBounds::Seconds`]) are counted at the nearest bound of the
//! exponential scheme (within 4.5%).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use super::LatencyBucket;
use crate::site::Site;
use crate::stats::histogram::{Buckets, PER_OCTAVE};

/// The lowest default bound, `2^(LOW/8)` ns (8.2 µs).
const LOW: i32 = 13 * PER_OCTAVE;
/// The highest default bound, `2^(HIGH/8)` ns (12.1 s).
const HIGH: i32 = 67 * PER_OCTAVE / 2;

/// A layout of classic latency buckets (see the module documentation).
///
/// ```
/// use instrument_once::ClassicBounds;
/// assert_eq!(ClassicBounds::default(), ClassicBounds::QuarterOctaves);
/// assert_eq!(ClassicBounds::QuarterOctaves.len(), 83);
/// assert_eq!(ClassicBounds::HalfOctaves.len(), 42);
/// assert_eq!(ClassicBounds::EighthOctaves.len(), 165);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ClassicBounds {
    /// Bounds `2^(1/4)` apart, 8.2 µs to 12.1 s (83 buckets): quantiles
    /// within 10% through `histogram_quantile`. The default.
    #[default]
    QuarterOctaves,
    /// Bounds `√2` apart, 8.2 µs to 12.1 s (42 buckets): half the series,
    /// errors up to about 25% for narrow distributions.
    HalfOctaves,
    /// Bounds `2^(1/8)` (9%) apart, every bound of the exponential buckets,
    /// 8.2 µs to 12.1 s (165 buckets): within 10% for any distribution,
    /// a constant latency included, at twice the default's series.
    EighthOctaves,
    /// Upper bounds of your own, in seconds, increasing (counted at the
    /// nearest bound of the exponential buckets, within 4.5%).
    Seconds(Vec<f64>),
}

impl ClassicBounds {
    /// How many buckets (without `+Inf`) the layout has.
    ///
    /// ```
    /// let mine = instrument_once::ClassicBounds::Seconds(vec![0.01, 0.1, 1.0]);
    /// assert_eq!(mine.len(), 3);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            ClassicBounds::EighthOctaves => (HIGH - LOW + 1).unsigned_abs() as usize,
            ClassicBounds::QuarterOctaves => ((HIGH - LOW) / 2 + 1).unsigned_abs() as usize,
            ClassicBounds::HalfOctaves => ((HIGH - LOW) / 4 + 1).unsigned_abs() as usize,
            ClassicBounds::Seconds(bounds) => bounds.len(),
        }
    }

    /// Whether the layout has no bucket (only `+Inf`).
    ///
    /// ```
    /// assert!(instrument_once::ClassicBounds::Seconds(vec![]).is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bounds: `(k, le)`, where exponential bucket `i` is counted
    /// when `i < k` and `le` is the exported bound in seconds.
    fn resolve(&self) -> Result<Vec<(i32, f64)>, InvalidBounds> {
        let grid = |step: i32| {
            (LOW..=HIGH)
                .step_by(step.unsigned_abs() as usize)
                .map(|k| (k, bound_seconds(k)))
                .collect()
        };
        match self {
            ClassicBounds::EighthOctaves => Ok(grid(1)),
            ClassicBounds::QuarterOctaves => Ok(grid(PER_OCTAVE / 4)),
            ClassicBounds::HalfOctaves => Ok(grid(PER_OCTAVE / 2)),
            ClassicBounds::Seconds(bounds) => {
                let mut out = Vec::with_capacity(bounds.len());
                for (at, seconds) in bounds.iter().enumerate() {
                    // Between 1 ns and a year: what a latency can be.
                    if !(1e-9..=3.2e7).contains(seconds) || at > 0 && *seconds <= bounds[at - 1] {
                        return Err(InvalidBounds {
                            bounds: bounds.clone(),
                            at,
                        });
                    }
                    #[allow(clippy::cast_possible_truncation)] // below 2^12
                    let k = ((seconds * 1e9).log2() * f64::from(PER_OCTAVE)).round() as i32;
                    out.push((k, *seconds));
                }
                Ok(out)
            }
        }
    }
}

/// Bounds that cannot be a layout: each must be a number of seconds from
/// 1 ns to a year, each above the one before.
///
/// ```
/// use instrument_once::{set_classic_bounds, ClassicBounds};
/// let err = set_classic_bounds(ClassicBounds::Seconds(vec![0.5, 0.1])).unwrap_err();
/// assert_eq!(err.at, 1);
/// assert!(err.to_string().contains("increasing"));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidBounds {
    /// The bounds given.
    pub bounds: Vec<f64>,
    /// The position of the first one that is wrong.
    pub at: usize,
}

impl fmt::Display for InvalidBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "classic bucket bound #{} ({} s) of {:?} is wrong: bounds are seconds from 1e-9 \
             to 3.2e7, strictly increasing (e.g. vec![0.005, 0.01, 0.025, 0.05, 0.1])",
            self.at,
            self.bounds.get(self.at).copied().unwrap_or(f64::NAN),
            self.bounds
        )
    }
}

impl std::error::Error for InvalidBounds {}

type Layout = Arc<Vec<(i32, f64)>>;

struct Layouts {
    every: Layout,
    /// By site index.
    own: HashMap<u32, Layout>,
}

static LAYOUTS: LazyLock<RwLock<Layouts>> = LazyLock::new(|| {
    RwLock::new(Layouts {
        every: Arc::new(ClassicBounds::default().resolve().unwrap_or_default()),
        own: HashMap::new(),
    })
});

/// Sets the classic latency buckets of every function without a layout of
/// its own (default [`ClassicBounds::QuarterOctaves`]). Every process whose
/// series are summed must use the same layout.
///
/// ```
/// use instrument_once::{set_classic_bounds, ClassicBounds};
/// #[instrument_once::instrument_once]
/// fn work() {}
/// # fn main() {
/// work();
/// set_classic_bounds(ClassicBounds::HalfOctaves).unwrap();
/// let snap = instrument_once::registry().snapshot();
/// let me = snap.sites().iter().find(|s| s.name == "work").unwrap();
/// assert_eq!(me.latency_buckets.len(), 42);
/// set_classic_bounds(ClassicBounds::default()).unwrap();
/// # }
/// ```
///
/// # Errors
///
/// [`InvalidBounds`] when [`ClassicBounds::Seconds`] are not increasing
/// seconds from 1 ns to a year; the layout is then unchanged.
#[allow(clippy::needless_pass_by_value)] // a setter takes what it sets
pub fn set_classic_bounds(bounds: ClassicBounds) -> Result<(), InvalidBounds> {
    let layout = Arc::new(bounds.resolve()?);
    LAYOUTS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .every = layout;
    Ok(())
}

/// Gives one function a classic latency layout of its own (`None`: back
/// to [`set_classic_bounds`]'s), for a function whose latencies lie
/// outside the common range.
///
/// ```
/// use instrument_once::{set_classic_bounds_for, ClassicBounds};
/// #[instrument_once::instrument_once]
/// fn nightly_batch() {}
/// # fn main() {
/// nightly_batch();
/// let site = instrument_once::registry()
///     .get(concat!(module_path!(), "::nightly_batch"))
///     .unwrap();
/// let minutes = ClassicBounds::Seconds(vec![60.0, 300.0, 900.0, 3600.0]);
/// set_classic_bounds_for(site, Some(minutes)).unwrap();
/// let snap = instrument_once::registry().snapshot();
/// let me = snap.sites().iter().find(|s| s.name == "nightly_batch").unwrap();
/// assert_eq!(me.latency_buckets.len(), 4);
/// assert_eq!(me.latency_buckets[0].le_seconds, 60.0);
/// # }
/// ```
///
/// # Errors
///
/// As [`set_classic_bounds`].
pub fn set_classic_bounds_for(
    site: &'static Site,
    bounds: Option<ClassicBounds>,
) -> Result<(), InvalidBounds> {
    let layout = bounds.map(|b| b.resolve()).transpose()?;
    // Its index is its key: registered first (a site not called yet may
    // not be listed without the static registry).
    let index = site.ensure_registered() >> Site::INDEX_SHIFT;
    let mut layouts = LAYOUTS.write().unwrap_or_else(PoisonError::into_inner);
    match layout {
        Some(layout) => {
            layouts.own.insert(index, Arc::new(layout));
        }
        None => {
            layouts.own.remove(&index);
        }
    }
    Ok(())
}

/// The bound `2^(k/8)` ns in seconds, rounded to 12 significant digits:
/// `exp2` is not correctly rounded everywhere, and processes whose bounds
/// differ in the last bit would not sum (`le` is compared as text).
fn bound_seconds(k: i32) -> f64 {
    let exact = (f64::from(k) / f64::from(PER_OCTAVE)).exp2() / 1e9;
    format!("{exact:.11e}").parse().unwrap_or(exact)
}

/// The layout `site` is exported with.
pub(crate) fn layout_of(site: &Site) -> Layout {
    let layouts = LAYOUTS.read().unwrap_or_else(PoisonError::into_inner);
    layouts
        .own
        .get(&site.index())
        .unwrap_or(&layouts.every)
        .clone()
}

/// The classic buckets of `buckets` in `layout`, cumulative (without
/// `+Inf`, whose count is the total).
pub(crate) fn classic(buckets: &Buckets, layout: &[(i32, f64)]) -> Vec<LatencyBucket> {
    let mut out = Vec::with_capacity(layout.len());
    let mut seen = buckets.zero;
    let mut nonzero = buckets.nonzero().peekable();
    for (k, le_seconds) in layout {
        // Bucket `i` holds values up to `2^((i+1)/8)`: at or below the
        // bound `2^(k/8)` when `i < k`.
        while let Some((_, n)) = nonzero.next_if(|(index, _)| *index < *k) {
            seen += n;
        }
        out.push(LatencyBucket {
            le_seconds: *le_seconds,
            count: seen,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::histogram::index_of;

    fn layout(bounds: &ClassicBounds) -> Vec<(i32, f64)> {
        bounds.resolve().unwrap()
    }

    #[test]
    fn classic_buckets_are_exact_sums_of_exponential_ones() {
        let mut b = Buckets::new();
        // On a bound exactly (2^20 ns is the top of its bucket), just
        // above it, and far below and above the layout.
        for (ns, n) in [(1u64 << 20, 2), ((1 << 20) + 1, 3), (500, 5), (1 << 40, 7)] {
            b.add(index_of(ns), n);
        }
        b.zero = 1;
        for (bounds, len) in [
            (ClassicBounds::HalfOctaves, 42),
            (ClassicBounds::QuarterOctaves, 83),
            (ClassicBounds::EighthOctaves, 165),
        ] {
            let c = classic(&b, &layout(&bounds));
            assert_eq!(c.len(), len);
            let at = |seconds: f64| {
                c.iter()
                    .find(|x| (x.le_seconds - seconds).abs() < 1e-12)
                    .unwrap()
                    .count
            };
            // Below 2^20 ns: the zero and the 500 ns values.
            assert_eq!(at(f64::from(1u32 << 19) / 1e9 * 2f64.sqrt()), 1 + 5);
            // At 2^20 ns: those and the two values on the bound.
            assert_eq!(at(f64::from(1u32 << 20) / 1e9), 1 + 5 + 2);
            assert_eq!(c.last().unwrap().count, 1 + 5 + 2 + 3);
            assert!(c
                .windows(2)
                .all(|w| w[0].le_seconds < w[1].le_seconds && w[0].count <= w[1].count));
            assert!(c[0].le_seconds < 10e-6 && c.last().unwrap().le_seconds > 10.0);
        }
    }

    #[test]
    fn bounds_of_ones_own_count_at_the_nearest_exponential_bound() {
        let mut b = Buckets::new();
        // 0.9 ms and 1.1 ms: either side of a 1 ms bound.
        b.add(index_of(900_000), 4);
        b.add(index_of(1_100_000), 6);
        let c = classic(&b, &layout(&ClassicBounds::Seconds(vec![0.001, 0.01])));
        assert_eq!(
            c.iter()
                .map(|x| (x.le_seconds, x.count))
                .collect::<Vec<_>>(),
            [(0.001, 4), (0.01, 10)]
        );
    }

    #[test]
    fn bounds_that_cannot_be_a_layout_are_refused() {
        for (bounds, at) in [
            (vec![0.1, 0.1], 1),
            (vec![f64::NAN], 0),
            (vec![-1.0], 0),
            (vec![0.01, 1e9], 1),
        ] {
            let err = ClassicBounds::Seconds(bounds).resolve().unwrap_err();
            assert_eq!(err.at, at, "{err}");
        }
    }

    /// A deterministic source of standard normal numbers (xorshift and
    /// Box-Muller): the test needs no random crate and never changes.
    struct Normal(u64);

    impl Normal {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            #[allow(clippy::cast_precision_loss)]
            let u = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
            u.max(f64::MIN_POSITIVE)
        }

        fn next(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// Prometheus' `histogram_quantile` over cumulative `(le, count)`
    /// buckets and the total (`+Inf`): linear inside the bucket the rank
    /// falls in, the lowest bucket starting at 0, the `+Inf` bucket read as
    /// the highest finite bound.
    #[allow(clippy::cast_precision_loss)]
    fn histogram_quantile(q: f64, buckets: &[(f64, u64)], total: u64) -> f64 {
        let rank = q * total as f64;
        let mut below = (0.0, 0u64);
        for (le, count) in buckets {
            if *count as f64 >= rank {
                let (lower, seen) = below;
                let inside = (*count - seen) as f64;
                return lower + (le - lower) * (rank - seen as f64) / inside;
            }
            below = (*le, *count);
        }
        below.0
    }

    /// The worst relative error of p50/p90/p99 read through
    /// `histogram_quantile` from three instances' classic buckets summed
    /// `by (le)`, over log-normal latencies whose quantiles lie in 10 µs to
    /// 10 s.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    fn worst_error(bounds: &ClassicBounds, spreads: &[f64]) -> f64 {
        let layout = layout(bounds);
        let mut normal = Normal(0x9E37_79B9_7F4A_7C15);
        let mut worst = 0.0f64;
        for median in [
            15e-6, 50e-6, 200e-6, 700e-6, 2e-3, 6e-3, 20e-3, 70e-3, 0.2, 0.7, 2.0,
        ] {
            for &spread in spreads {
                let mut samples = Vec::new();
                let mut summed: Vec<(f64, u64)> = layout.iter().map(|(_, le)| (*le, 0)).collect();
                for _instance in 0..3 {
                    let mut buckets = Buckets::new();
                    for _ in 0..10_000 {
                        let seconds: f64 = median * (spread * normal.next()).exp();
                        let ns = (seconds * 1e9).round().max(1.0) as u64;
                        samples.push(ns as f64 / 1e9);
                        buckets.add(index_of(ns), 1);
                    }
                    for (sum, b) in summed.iter_mut().zip(classic(&buckets, &layout)) {
                        sum.1 += b.count;
                    }
                }
                samples.sort_by(f64::total_cmp);
                for q in [0.5, 0.9, 0.99] {
                    let exact = samples[(q * samples.len() as f64) as usize];
                    if !(10e-6..=10.0).contains(&exact) {
                        continue;
                    }
                    let read = histogram_quantile(q, &summed, samples.len() as u64);
                    worst = worst.max((read / exact - 1.0).abs());
                }
            }
        }
        worst
    }

    #[test]
    fn quantiles_through_histogram_quantile_stay_within_ten_percent() {
        let spreads = [0.1, 0.2, 0.4, 0.7, 1.2];
        let quarter = worst_error(&ClassicBounds::QuarterOctaves, &spreads);
        assert!(quarter <= 0.10, "quarter octaves: worst error {quarter}");
        // A latency that barely varies (a fixed sleep) just above a bound
        // is where the default's 19% buckets show; eighth octaves hold it.
        let nearly_constant = [0.002, 0.01];
        let eighth = worst_error(&ClassicBounds::EighthOctaves, &nearly_constant);
        assert!(eighth <= 0.10, "eighth octaves, nearly constant: {eighth}");
        let quarter_constant = worst_error(&ClassicBounds::QuarterOctaves, &nearly_constant);
        assert!(
            quarter_constant <= 0.20,
            "quarter octaves, nearly constant: {quarter_constant}"
        );
        // The cheaper layout's price, as documented: worse, within 30%.
        let half = worst_error(&ClassicBounds::HalfOctaves, &spreads);
        assert!(
            half > quarter && half <= 0.30,
            "half octaves: worst error {half}"
        );
        // Decade buckets (what the exports had when the fleet view was
        // asked for): far off.
        let decades = worst_error(
            &ClassicBounds::Seconds(vec![1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0]),
            &spreads,
        );
        assert!(decades > 0.5, "decades: worst error {decades}");
        eprintln!(
            "worst p50/p90/p99 error: quarter {quarter:.3}, half {half:.3}, decades {decades:.3}; \
             nearly constant: eighth {eighth:.3}, quarter {quarter_constant:.3}"
        );
    }
}
