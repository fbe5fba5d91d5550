//! Latency buckets: base-2 exponential at scale 3, the scheme of
//! OpenTelemetry's exponential histogram and of Prometheus's native
//! histograms (schema 3).
//!
//! Every power of two is split into 8 buckets, each `2^(1/8)` (9.05%) wider
//! than the one below: bucket `i` holds the values in `(2^(i/8), 2^((i+1)/8)]`
//! nanoseconds (OpenTelemetry's index; Prometheus numbers the same bucket
//! `i + 1`), and 0 ns has a bucket of its own. The bounds are the same in
//! every thread and every process, so buckets add up exactly when threads,
//! instances or scrapes are merged. A percentile reported as the geometric
//! middle of its bucket is within `2^(1/16) - 1` (4.43%) of the true value.
//!
//! Storage costs what a function uses:
//!
//! * each thread that times a function records into its own [`Window`] of
//!   128 buckets (16 powers of two, 4.8 decades), placed around its first
//!   value and written only by that thread (a plain load and store per
//!   bucket, as the counters); under 560 bytes, allocated at the thread's
//!   first timed call of the function;
//! * a value outside a thread's window (or from a call without a counter
//!   block) goes to the function's [`Spill`]: one page of 8 buckets per
//!   power of two that ever saw a value, allocated then, with atomic adds.
//!
//! Every allocation is charged to the process-wide budget of
//! [`super::memory`]; past its cap a value is counted as timed without a
//! bucket (`Latency::unbucketed`) instead.

use crate::sync::{fence, AtomicI32, AtomicU32, AtomicU64, OnceBox, Ordering};
use std::sync::OnceLock;

use super::memory;

/// Buckets per power of two (`2^scale`).
pub(crate) const PER_OCTAVE: i32 = 8;
/// The scale of the exponential scheme (OpenTelemetry's scale, Prometheus's
/// schema).
pub(crate) const SCALE: i32 = 3;
/// The lowest bucket of a value of at least 1 ns: `(2^(-1/8), 1]`.
pub(crate) const MIN_INDEX: i32 = -1;
/// The highest bucket of a `u64` of nanoseconds.
pub(crate) const MAX_INDEX: i32 = 64 * PER_OCTAVE - 1;
/// How many buckets a [`Window`] holds: 16 powers of two (4.8 decades).
/// (Two under loom, whose models would otherwise step through every cell.)
pub(crate) const WINDOW: usize = if cfg!(loom) { 16 } else { 128 };
/// How many powers of two below its first value a window starts: a first
/// call is more often slower than the calls after it (cold caches, lazy
/// set-up) than faster.
const WINDOW_BELOW: i32 = if cfg!(loom) { 0 } else { 9 };

/// `ceil(2^(63 + j/8))` for `j = 1..8`: where bucket `j` of a power of two
/// starts, as a 64-bit mantissa with its leading one at bit 63. The bounds
/// `2^(j/8)` are irrational, so a mantissa is at least `ceil` of one
/// exactly when the value is above the bound: exact for every `u64`.
const THRESHOLDS: [u64; 7] = [
    10_058_158_527_438_640_871,
    10_968_499_650_544_839_024,
    11_961_233_684_655_323_371,
    13_043_817_825_332_782_213,
    14_224_384_202_002_324_190,
    15_511_800_964_685_064_949,
    16_915_738_899_553_466_671,
];

/// How many of the top bits of a mantissa's fraction pick a cell: 128
/// cells an octave, each narrower than any bucket (the narrowest bucket of
/// an octave spans 11.6 cells), so a cell holds at most one threshold.
const CELL_BITS: u32 = 7;

/// What each cell of an octave's mantissas knows: the bucket (within the
/// octave) of its lowest mantissa, and the threshold a mantissa in it must
/// reach for the bucket after that one. Past the last threshold a cell
/// says "bucket 6, and the last threshold", which every mantissa there
/// reaches: so no sentinel can be reached by `u64::MAX`.
struct Cells {
    sub: [u32; 1 << CELL_BITS],
    next: [u64; 1 << CELL_BITS],
}

/// The cells of an octave, from [`THRESHOLDS`].
static CELLS: Cells = {
    let mut cells = Cells {
        sub: [0; 1 << CELL_BITS],
        next: [0; 1 << CELL_BITS],
    };
    let mut c = 0;
    while c < cells.sub.len() {
        let lowest = (1u64 << 63) | ((c as u64) << (63 - CELL_BITS));
        let mut sub = 0;
        while sub < THRESHOLDS.len() && THRESHOLDS[sub] <= lowest {
            sub += 1;
        }
        if sub == THRESHOLDS.len() {
            sub -= 1;
        }
        #[allow(clippy::cast_possible_truncation)] // at most 6
        {
            cells.sub[c] = sub as u32;
        }
        cells.next[c] = THRESHOLDS[sub];
        c += 1;
    }
    cells
};

/// The bucket of a value of at least 1 ns: `i` such that
/// `2^(i/8) < ns <= 2^((i+1)/8)`, exactly.
///
/// Every timed call runs this, so it is a table lookup and one compare:
/// the top bits of the value's fraction pick a cell, which holds the
/// bucket of its lowest mantissa and the one threshold that can follow in
/// it (what counting the thresholds passed, in the tests, gives).
#[inline]
#[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)] // small
pub(crate) fn index_of(ns: u64) -> i32 {
    debug_assert!(ns >= 1);
    let octave = ns.ilog2();
    if ns.is_power_of_two() {
        // An exact power of two is the top of the bucket below it.
        return octave as i32 * PER_OCTAVE - 1;
    }
    let mantissa = ns << (63 - octave);
    let cell = (mantissa >> (63 - CELL_BITS)) as usize & ((1 << CELL_BITS) - 1);
    let sub = CELLS.sub[cell] + u32::from(mantissa >= CELLS.next[cell]);
    (octave * PER_OCTAVE as u32 + sub) as i32
}

/// The bounds of bucket `index`, in nanoseconds: `(lower, upper]`.
pub(crate) fn bounds(index: i32) -> (f64, f64) {
    let base = |i: i32| (f64::from(i) / f64::from(PER_OCTAVE)).exp2();
    (base(index), base(index + 1))
}

/// The geometric middle of bucket `index`, in nanoseconds: what a
/// percentile in that bucket is reported as.
pub(crate) fn middle(index: i32) -> f64 {
    ((f64::from(index) + 0.5) / f64::from(PER_OCTAVE)).exp2()
}

/// The buckets of a function, merged: a count per bucket index, and the
/// zero bucket. What snapshots and exports read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Buckets {
    /// Values of 0 ns.
    pub(crate) zero: u64,
    /// `counts[i - MIN_INDEX]` is the count of bucket `i`.
    counts: Vec<u64>,
}

impl Buckets {
    /// No values.
    pub(crate) fn new() -> Buckets {
        Buckets {
            zero: 0,
            counts: vec![0; usize::try_from(MAX_INDEX - MIN_INDEX + 1).unwrap_or(0)],
        }
    }

    fn slot(index: i32) -> usize {
        usize::try_from(index - MIN_INDEX).unwrap_or(0)
    }

    /// Adds `n` to bucket `index`.
    pub(crate) fn add(&mut self, index: i32, n: u64) {
        self.counts[Buckets::slot(index)] += n;
    }

    /// The count of bucket `index`.
    #[cfg(test)]
    pub(crate) fn count(&self, index: i32) -> u64 {
        self.counts[Buckets::slot(index)]
    }

    /// Every value counted.
    pub(crate) fn total(&self) -> u64 {
        self.zero + self.counts.iter().sum::<u64>()
    }

    /// The buckets with a count, lowest first: `(index, count)`.
    pub(crate) fn nonzero(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(slot, n)| (i32::try_from(slot).unwrap_or(0) + MIN_INDEX, *n))
    }

    /// Takes `base` away, bucket by bucket (a reset's baseline).
    pub(crate) fn minus(&mut self, base: &Buckets) {
        self.zero -= base.zero;
        for (mine, theirs) in self.counts.iter_mut().zip(&base.counts) {
            *mine -= theirs;
        }
    }

    /// The `q`-quantile in nanoseconds (`q` in `(0, 1]`): the geometric
    /// middle of the bucket holding the value of rank `ceil(q * total)`,
    /// never above `max_ns`. `None` without values.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    pub(crate) fn quantile(&self, q: f64, max_ns: u64) -> Option<u64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        if rank <= self.zero {
            return Some(0);
        }
        let mut seen = self.zero;
        for (index, n) in self.nonzero() {
            seen += n;
            if seen >= rank {
                let (lower, _) = bounds(index);
                // Within the bucket, and never past the largest value seen.
                let estimate = middle(index).round() as u64;
                return Some(estimate.min(max_ns.max(lower.ceil() as u64)));
            }
        }
        Some(max_ns)
    }
}

/// One thread's buckets of one function (see the module documentation).
/// Only the owning thread writes it: a value is a plain load and store.
///
/// The window is placed at the thread's first value, and slides by whole
/// powers of two towards a later value outside it as long as no counted
/// bucket would leave it (a first call slower than the rest, say, does
/// not pin it); otherwise the value goes to the spill.
///
/// A cell holds the low 32 bits of its count; the rare carry out of them
/// (every 2^32 values of one bucket on one thread) goes to `high`,
/// allocated then. A carry and a slide change several cells, so they are
/// written under a sequence lock (`version`, odd meanwhile) and readers
/// retry a read that overlapped one. Half-width cells make a window of 16
/// powers of two cost about half a kibibyte.
pub(crate) struct Window {
    /// The index of the first bucket, set by the first value (before any
    /// cell is written; [`Window::UNPLACED`] until then).
    first: AtomicI32,
    /// Bumped before and after each carry or slide.
    version: AtomicU32,
    cells: [AtomicU32; WINDOW],
    /// The high halves of the counts, allocated at the first carry.
    high: OnceBox<[AtomicU32; WINDOW]>,
    zero: AtomicU64,
    sum_ns: AtomicU64,
}

impl Window {
    const UNPLACED: i32 = i32::MIN;
    /// What a window costs the memory budget.
    pub(crate) const BYTES: usize = std::mem::size_of::<Window>();
    /// What its high halves cost, once a count passes `u32::MAX`.
    const HIGH_BYTES: usize = std::mem::size_of::<[AtomicU32; WINDOW]>();

    /// A window, if the budget allows one.
    pub(crate) fn new() -> Option<Box<Window>> {
        memory::reserve(Window::BYTES).then(|| {
            Box::new(Window {
                first: AtomicI32::new(Window::UNPLACED),
                version: AtomicU32::new(0),
                cells: std::array::from_fn(|_| AtomicU32::new(0)),
                high: OnceBox::new(),
                zero: AtomicU64::new(0),
                sum_ns: AtomicU64::new(0),
            })
        })
    }

    /// Records a value; `false` (nothing recorded but the sum) when it
    /// falls outside the window: the caller records it in the spill.
    #[inline]
    pub(crate) fn record(&self, ns: u64) -> bool {
        bump(&self.sum_ns, ns);
        if ns == 0 {
            bump(&self.zero, 1);
            return true;
        }
        let index = index_of(ns);
        let mut first = self.first.load(Ordering::Relaxed);
        if first == Window::UNPLACED {
            first = Window::place(&self.first, index);
        }
        match usize::try_from(index - first) {
            Ok(slot) if slot < WINDOW => self.bump_cell(slot),
            _ => self.outside(index),
        }
    }

    /// Records `ns` when it is 0, or when the window is placed, holds its
    /// bucket and the bucket's cell has room: the common case, with no
    /// call. `false`, having written nothing, otherwise
    /// ([`Window::record`] then).
    #[inline]
    #[allow(clippy::cast_sign_loss)] // a negative difference is far outside
    pub(crate) fn record_in_window(&self, ns: u64) -> bool {
        if ns == 0 {
            // The sum is unchanged.
            bump(&self.zero, 1);
            return true;
        }
        // An unplaced window (`i32::MIN`) is outside too: the difference
        // wraps to at least 2^31.
        let slot = index_of(ns).wrapping_sub(self.first.load(Ordering::Relaxed)) as u32 as usize;
        if slot >= WINDOW {
            return false;
        }
        let cell = &self.cells[slot];
        let n = cell.load(Ordering::Relaxed);
        if n == u32::MAX {
            return false;
        }
        bump(&self.sum_ns, ns);
        // Release: a reader that sees the count sees the placement.
        cell.store(n + 1, Ordering::Release);
        true
    }

    /// Adds one to cell `slot`.
    #[inline]
    fn bump_cell(&self, slot: usize) -> bool {
        let cell = &self.cells[slot];
        let n = cell.load(Ordering::Relaxed);
        if n == u32::MAX {
            return self.carry(slot);
        }
        // Release: a reader that sees the count sees the placement.
        cell.store(n + 1, Ordering::Release);
        true
    }

    /// Records a value of bucket `index`, outside the window: slides the
    /// window to it by whole powers of two if no counted bucket would
    /// leave; `false` (not recorded) otherwise.
    #[cold]
    #[inline(never)]
    fn outside(&self, index: i32) -> bool {
        let first = self.first.load(Ordering::Relaxed);
        let size = i32::try_from(WINDOW).unwrap_or(i32::MAX);
        let octaves = |buckets: i32| (buckets + PER_OCTAVE - 1) / PER_OCTAVE * PER_OCTAVE;
        let shift = if index < first {
            -octaves(first - index)
        } else {
            octaves(index - (first + size - 1))
        };
        let to = first + shift;
        if shift.abs() >= size {
            return false;
        }
        let k = shift.unsigned_abs() as usize;
        // The cells that would leave the window.
        let leaving = if shift < 0 { WINDOW - k..WINDOW } else { 0..k };
        let high = self.high.get();
        let empty = |slot: usize| {
            self.cells[slot].load(Ordering::Relaxed) == 0
                && high.is_none_or(|h| h[slot].load(Ordering::Relaxed) == 0)
        };
        if !leaving.clone().all(empty) {
            return false;
        }
        self.write_locked(|| {
            // Only this thread writes the window (a block's window passes
            // to another thread only at thread exit, through the blocks'
            // mutex), so its own load of a cell reads the last store. A
            // cell that keeps its value (most do: a window is sparse) is
            // not written: fewer stores for readers to race (and for
            // loom's models to try every order of).
            let set = |cell: &AtomicU32, n: u32| {
                if cell.load(Ordering::Relaxed) != n {
                    cell.store(n, Ordering::Relaxed);
                }
            };
            let move_cells = |cells: &[AtomicU32; WINDOW]| {
                if shift < 0 {
                    for slot in (k..WINDOW).rev() {
                        set(&cells[slot], cells[slot - k].load(Ordering::Relaxed));
                    }
                    cells[..k].iter().for_each(|c| set(c, 0));
                } else {
                    for slot in 0..WINDOW - k {
                        set(&cells[slot], cells[slot + k].load(Ordering::Relaxed));
                    }
                    cells[WINDOW - k..].iter().for_each(|c| set(c, 0));
                }
            };
            move_cells(&self.cells);
            if let Some(high) = high {
                move_cells(high);
            }
            self.first.store(to, Ordering::Relaxed);
        });
        usize::try_from(index - to).is_ok_and(|slot| self.bump_cell(slot))
    }

    /// Runs `change` (relaxed stores to several cells) under the sequence
    /// lock: readers that overlap it retry.
    fn write_locked(&self, change: impl FnOnce()) {
        let version = self.version.load(Ordering::Relaxed);
        self.version
            .store(version.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        change();
        self.version
            .store(version.wrapping_add(2), Ordering::Release);
    }

    /// Adds one to cell `slot`, which holds `u32::MAX`: zero in the cell,
    /// one more in its high half, under the sequence lock. `false` (not
    /// recorded) when the memory cap refuses the high halves.
    #[cold]
    #[inline(never)]
    fn carry(&self, slot: usize) -> bool {
        if self.high.get().is_none() {
            if !memory::reserve(Window::HIGH_BYTES) {
                return false;
            }
            // Only this thread writes the window: the cell was unset.
            let _ = self
                .high
                .set(Box::new(std::array::from_fn(|_| AtomicU32::new(0))));
        }
        let Some(high) = self.high.get() else {
            return false;
        };
        self.write_locked(|| {
            let carried = &high[slot];
            carried.store(carried.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            self.cells[slot].store(0, Ordering::Relaxed);
        });
        true
    }

    /// Places the window around its first value, a whole number of powers
    /// of two below it.
    #[cold]
    fn place(first: &AtomicI32, index: i32) -> i32 {
        let octave = index.div_euclid(PER_OCTAVE);
        let placed = ((octave - WINDOW_BELOW) * PER_OCTAVE).max(MIN_INDEX);
        first.store(placed, Ordering::Release);
        placed
    }

    /// Adds the window to `buckets` (acquire) and returns its sum.
    pub(crate) fn read(&self, buckets: &mut Buckets) -> u64 {
        buckets.zero += self.zero.load(Ordering::Acquire);
        let (first, counts) = self.counts();
        if first != Window::UNPLACED {
            for (i, n) in (first..).zip(counts) {
                if n > 0 {
                    buckets.add(i, n);
                }
            }
        }
        self.sum_ns.load(Ordering::Relaxed)
    }

    /// Where the window is, and every cell's count, read under the
    /// sequence lock: retried while a carry or slide runs or when one ran
    /// during the read.
    fn counts(&self) -> (i32, [u64; WINDOW]) {
        let mut rounds = 0u32;
        loop {
            let before = self.version.load(Ordering::Acquire);
            if before % 2 == 0 {
                let first = self.first.load(Ordering::Acquire);
                let mut counts = [0u64; WINDOW];
                let high = self.high.get();
                for (slot, count) in counts.iter_mut().enumerate() {
                    let low = u64::from(self.cells[slot].load(Ordering::Acquire));
                    let high = high.map_or(0, |h| u64::from(h[slot].load(Ordering::Relaxed)));
                    *count = high << 32 | low;
                }
                fence(Ordering::Acquire);
                if self.version.load(Ordering::Relaxed) == before {
                    return (first, counts);
                }
            }
            // The writer is inside a carry or a slide: wait for it.
            crate::sync::backoff(rounds);
            rounds += 1;
        }
    }

    /// Sets cell `slot` (counting from the first value's bucket less
    /// [`WINDOW_BELOW`] powers of two) to `n`, as if that many values had
    /// landed there: lets a test reach a carry without 2^32 calls.
    #[cfg(test)]
    pub(crate) fn preset(&self, slot: usize, n: u32) {
        self.cells[slot].store(n, Ordering::Release);
    }
}

// A window costs about half a kibibyte.
const _: () = assert!(cfg!(loom) || Window::BYTES <= 560);

impl Drop for Window {
    fn drop(&mut self) {
        let high = if self.high.get().is_some() {
            Window::HIGH_BYTES
        } else {
            0
        };
        memory::release(Window::BYTES + high);
    }
}

/// Adds `n` to a cell only its thread writes.
#[inline]
fn bump(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Eight buckets: one power of two.
type Page = [AtomicU64; PER_OCTAVE as usize];

/// How many pages a spill can hold: the powers of two of a `u64`, and the
/// one below 1 ns.
const PAGES: usize = 65;

/// A function's shared buckets, for the values no thread's window holds:
/// a page per power of two, allocated at its first value (atomic adds).
pub(crate) struct Spill {
    pages: [OnceLock<Box<Page>>; PAGES],
    zero: AtomicU64,
    sum_ns: AtomicU64,
}

impl Spill {
    const PAGE_BYTES: usize = std::mem::size_of::<Page>();
    /// What an empty spill costs the memory budget.
    pub(crate) const BYTES: usize = std::mem::size_of::<Spill>();

    /// A spill, if the budget allows one.
    pub(crate) fn new() -> Option<Box<Spill>> {
        memory::reserve(Spill::BYTES).then(|| {
            Box::new(Spill {
                pages: [const { OnceLock::new() }; PAGES],
                zero: AtomicU64::new(0),
                sum_ns: AtomicU64::new(0),
            })
        })
    }

    /// Records a value, and adds it to the sum when `with_sum`; `false`
    /// (neither done) when its page would pass the memory cap.
    pub(crate) fn record(&self, ns: u64, with_sum: bool) -> bool {
        if ns == 0 {
            self.zero.fetch_add(1, Ordering::Release);
            return true;
        }
        let index = index_of(ns);
        let page_of = |i: i32| usize::try_from(i.div_euclid(PER_OCTAVE) + 1).unwrap_or(0);
        let Some(page) = Spill::page(&self.pages[page_of(index)]) else {
            return false;
        };
        if with_sum {
            self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        }
        let slot = usize::try_from(index.rem_euclid(PER_OCTAVE)).unwrap_or(0);
        page[slot].fetch_add(1, Ordering::Release);
        true
    }

    /// The page of `cell`, allocated if the memory cap allows.
    fn page(cell: &OnceLock<Box<Page>>) -> Option<&Page> {
        if cell.get().is_none() {
            if !memory::reserve(Spill::PAGE_BYTES) {
                return None;
            }
            let fresh = Box::new(std::array::from_fn(|_| AtomicU64::new(0)));
            if cell.set(fresh).is_err() {
                // Another thread made the page first.
                memory::release(Spill::PAGE_BYTES);
            }
        }
        cell.get().map(|page| &**page)
    }

    /// Adds the spill to `buckets` (acquire) and returns its sum.
    pub(crate) fn read(&self, buckets: &mut Buckets) -> u64 {
        buckets.zero += self.zero.load(Ordering::Acquire);
        for (p, page) in self.pages.iter().enumerate() {
            let Some(page) = page.get() else { continue };
            let first = (i32::try_from(p).unwrap_or(0) - 1) * PER_OCTAVE;
            for (i, cell) in (first..).zip(page.iter()) {
                let n = cell.load(Ordering::Acquire);
                if n > 0 {
                    buckets.add(i, n);
                }
            }
        }
        self.sum_ns.load(Ordering::Relaxed)
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let pages = self.pages.iter().filter(|p| p.get().is_some()).count();
        memory::release(Spill::BYTES + pages * Spill::PAGE_BYTES);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The index by counting the thresholds a value's mantissa passes:
    /// what the cell table must give for every value.
    #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
    fn index_by_count(ns: u64) -> i32 {
        let octave = ns.ilog2() as i32;
        if ns.is_power_of_two() {
            return octave * PER_OCTAVE - 1;
        }
        let mantissa = ns << (63 - octave);
        octave * PER_OCTAVE + THRESHOLDS.iter().filter(|t| mantissa >= **t).count() as i32
    }

    /// `x^8` in 32-bit limbs, lowest first.
    fn pow8(x: u64) -> Vec<u64> {
        let mul = |a: &[u64], b: &[u64]| {
            let mut out = vec![0u64; a.len() + b.len()];
            for (i, x) in a.iter().enumerate() {
                let mut carry = 0;
                for (j, y) in b.iter().enumerate() {
                    let t = out[i + j] + x * y + carry;
                    out[i + j] = t & 0xFFFF_FFFF;
                    carry = t >> 32;
                }
                out[i + b.len()] += carry;
            }
            while out.last() == Some(&0) {
                out.pop();
            }
            out
        };
        let x = [x & 0xFFFF_FFFF, x >> 32];
        let x2 = mul(&x, &x);
        let x4 = mul(&x2, &x2);
        mul(&x4, &x4)
    }

    /// `2^k` in 32-bit limbs, lowest first.
    fn power_of_two(k: usize) -> Vec<u64> {
        let mut v = vec![0u64; k / 32 + 1];
        v[k / 32] = 1 << (k % 32);
        v
    }

    /// `a >= b` for limbs without leading zeros.
    fn at_least(a: &[u64], b: &[u64]) -> bool {
        a.len() > b.len() || (a.len() == b.len() && a.iter().rev().ge(b.iter().rev()))
    }

    #[test]
    fn thresholds_are_exactly_the_ceilings_of_the_bounds() {
        // T = ceil(2^(63 + j/8)) exactly when T^8 >= 2^(504 + j) > (T - 1)^8.
        for (j, t) in (1..).zip(THRESHOLDS) {
            let bound = power_of_two(504 + j);
            assert!(at_least(&pow8(t), &bound), "{j}: {t} is below");
            assert!(!at_least(&pow8(t - 1), &bound), "{j}: {t} is not the least");
        }
    }

    #[test]
    fn the_cell_table_gives_what_counting_thresholds_gives() {
        // Every threshold and its neighbours, and every cell's edges, in
        // every octave (the low bits below an octave's width dropped).
        let mut mantissas = Vec::new();
        for t in THRESHOLDS {
            mantissas.extend([t - 1, t, t + 1]);
        }
        for c in 0..1u64 << CELL_BITS {
            let lowest = (1u64 << 63) | (c << (63 - CELL_BITS));
            mantissas.extend([lowest, lowest | ((1 << (63 - CELL_BITS)) - 1)]);
        }
        mantissas.push(u64::MAX);
        for octave in 0..64u32 {
            for m in &mantissas {
                let ns = m >> (63 - octave);
                for v in [ns - 1, ns, ns.saturating_add(1)] {
                    if v > 0 {
                        assert_eq!(index_of(v), index_by_count(v), "{v}");
                    }
                }
            }
        }
        // Every value up to 2^20, and a sweep above.
        for v in 1..1u64 << 20 {
            assert_eq!(index_of(v), index_by_count(v), "{v}");
        }
        let mut v = 1u64 << 20;
        while v < u64::MAX / 2 {
            assert_eq!(index_of(v), index_by_count(v), "{v}");
            v = v + v / 9973 + 1;
        }
        assert_eq!(index_of(u64::MAX), MAX_INDEX);
    }

    #[test]
    fn the_call_free_path_records_inside_the_window_and_nothing_else() {
        let w = Window::new().expect("budget");
        assert!(!w.record_in_window(100_000), "unplaced: the general path");
        assert!(w.record(100_000));
        let first = w.first.load(Ordering::Relaxed);
        let window = i32::try_from(WINDOW).unwrap();
        // The largest value of bucket `i` (its bound, or just below it).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let value = |i: i32| {
            let v = bounds(i).1.floor() as u64;
            assert_eq!(index_of(v), i);
            v
        };
        let (lowest, highest) = (value(first), value(first + window - 1));
        assert!(w.record_in_window(lowest));
        assert!(w.record_in_window(highest));
        assert!(w.record_in_window(0));
        // Outside either end, or a cell that would carry: refused, and
        // nothing written.
        assert!(!w.record_in_window(value(first - 1)));
        assert!(!w.record_in_window(value(first + window)));
        w.preset(5, u32::MAX);
        assert!(!w.record_in_window(value(first + 5)));
        let mut b = Buckets::new();
        let sum = w.read(&mut b);
        assert_eq!(sum, 100_000 + lowest + highest);
        assert_eq!(b.zero, 1);
        assert_eq!((b.count(first), b.count(first + window - 1)), (1, 1));
        assert_eq!(b.count(first + 5), u64::from(u32::MAX));
        assert_eq!(b.count(first - 1) + b.count(first + window), 0);
        assert_eq!(b.total(), 4 + u64::from(u32::MAX));
    }

    /// The index by floating point, for comparison.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    fn index_by_float(ns: u64) -> i32 {
        ((ns as f64).log2() * 8.0).ceil() as i32 - 1
    }

    #[test]
    fn every_value_lands_in_the_bucket_that_bounds_it() {
        let mut ns = 1u64;
        while ns < u64::MAX / 3 {
            for v in [ns, ns + 1, ns + ns / 7, ns * 2 - 1] {
                let i = index_of(v);
                #[allow(clippy::cast_precision_loss)]
                let x = v as f64;
                let (lower, upper) = bounds(i);
                assert!(
                    lower < x * (1.0 + 1e-12) && x <= upper * (1.0 + 1e-12),
                    "{v}: bucket {i} is ({lower}, {upper}]"
                );
                if v < 1 << 40 {
                    assert_eq!(i, index_by_float(v), "{v}");
                }
            }
            ns = ns * 3 / 2 + 1;
        }
        assert_eq!(index_of(1), -1);
        assert_eq!(index_of(2), 7);
        assert_eq!(index_of(u64::MAX), MAX_INDEX);
    }

    #[test]
    fn the_middle_of_a_bucket_is_within_4_43_percent_of_any_value_in_it() {
        for ns in (2..10_000_000u64).step_by(997) {
            let mid = middle(index_of(ns));
            #[allow(clippy::cast_precision_loss)]
            let err = (mid - ns as f64).abs() / ns as f64;
            assert!(err <= 0.0443, "{ns}: {err}");
        }
    }

    #[test]
    fn a_window_keeps_sixteen_powers_of_two_and_refuses_the_rest() {
        let w = Window::new().expect("budget");
        let ns = 100_000;
        assert!(w.record(ns));
        // 9 powers of two below, 6 above (from the power of two of ns);
        // with both ends taken, the window no longer slides.
        assert!(w.record(ns >> 9));
        assert!(w.record(ns << 6));
        assert!(!w.record(ns >> 10));
        assert!(!w.record(ns << 7));
        assert!(w.record(0));
        let mut b = Buckets::new();
        assert_eq!(
            w.read(&mut b),
            ns + (ns >> 9) + (ns >> 10) + (ns << 6) + (ns << 7)
        );
        assert_eq!((b.total(), b.zero), (4, 1));
        assert_eq!(b.count(index_of(ns)), 1);
    }

    #[test]
    fn a_window_slides_to_later_values_while_nothing_counted_leaves_it() {
        let w = Window::new().expect("budget");
        // A slow first call, then fast ones 2^12 times quicker: 3 powers
        // of two below the window as placed.
        let slow = 4_000_000;
        let fast = slow >> 12;
        assert!(w.record(slow));
        for _ in 0..10 {
            assert!(w.record(fast));
        }
        // Now both ends hold values: far values on either side stay out.
        assert!(!w.record(fast >> 4));
        assert!(!w.record(slow << 5));
        // Values within the span still land.
        assert!(w.record(slow >> 6));
        let mut b = Buckets::new();
        w.read(&mut b);
        assert_eq!(b.count(index_of(slow)), 1);
        assert_eq!(b.count(index_of(fast)), 10);
        assert_eq!(b.count(index_of(slow >> 6)), 1);
        assert_eq!(b.total(), 12);

        // Upwards too.
        let w = Window::new().expect("budget");
        assert!(w.record(100));
        assert!(w.record(100 << 10));
        let mut b = Buckets::new();
        w.read(&mut b);
        assert_eq!(
            (b.count(index_of(100)), b.count(index_of(100 << 10))),
            (1, 1)
        );
    }

    #[test]
    fn counts_past_32_bits_carry_exactly() {
        let w = Window::new().expect("budget");
        assert!(w.record(1_000));
        let slot = usize::try_from(WINDOW_BELOW * PER_OCTAVE).unwrap()
            + usize::try_from(index_of(1_000).rem_euclid(PER_OCTAVE)).unwrap();
        w.preset(slot, u32::MAX - 1);
        for _ in 0..3 {
            assert!(w.record(1_000));
        }
        let mut b = Buckets::new();
        w.read(&mut b);
        assert_eq!(b.count(index_of(1_000)), u64::from(u32::MAX) + 2);
        // Twice more round the low half.
        w.preset(slot, u32::MAX);
        assert!(w.record(1_000));
        let mut b = Buckets::new();
        w.read(&mut b);
        assert_eq!(b.count(index_of(1_000)), 2 << 32);
    }
}
