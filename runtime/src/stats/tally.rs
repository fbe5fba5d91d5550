//! One request's tally of instrumented calls (see `crate::request`): per
//! function, how often it was called and how often with a key it was
//! already called with, in fixed capacity.
//!
//! A tally is filled by one thread at a time: the thread running the
//! request (for an async request, the thread polling it; the executor
//! orders one poll before the next). So its atomics are plain loads and
//! stores, as the counter blocks'. Tallies are allocated once and reused,
//! never freed (see `crate::request`): a pointer to one never dangles.
//!
//! A request holds up to [`FUNCTIONS`] distinct functions and remembers up
//! to [`KEYS`] distinct keys; calls past either are counted
//! ([`Tally::unslotted`], [`Tally::unkeyed`]), not lost.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Distinct functions one request can tally (a power of two).
pub(crate) const FUNCTIONS: usize = 64;
// One bit per line in `Tally::taken`.
const _: () = assert!(FUNCTIONS <= 64);
/// Slots of the table of keys one request remembers for `repeats_by` (a
/// power of two).
pub(crate) const KEYS: usize = 256;
/// Distinct keys one request remembers: three quarters of the slots, so
/// that looking a new key up probes a few slots, never the whole table.
#[allow(clippy::cast_possible_truncation)] // 192
pub(crate) const MAX_KEYS: u32 = (KEYS / 4 * 3) as u32;

/// One function's line of a tally.
pub(crate) struct Line {
    /// The site's registry index plus one; 0 while the line is free.
    site: AtomicU32,
    /// The most repeats of any one key (what the warning judges).
    key_repeats: AtomicU32,
    calls: AtomicU64,
    repeats: AtomicU64,
    repeat_ns: AtomicU64,
}

/// What a tally holds for one function, read when its request ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counted {
    /// The site's registry index.
    pub(crate) site: u32,
    pub(crate) calls: u64,
    pub(crate) repeats: u64,
    /// The most repeats of any one key.
    pub(crate) key_repeats: u64,
    /// Time the repeated calls took (those that were timed).
    pub(crate) repeat_ns: u64,
}

/// One request's calls (see the module documentation).
pub(crate) struct Tally {
    lines: [Line; FUNCTIONS],
    /// Bit `i` is set while line `i` is taken: the end of a request visits
    /// only these.
    taken: AtomicU64,
    /// Fingerprints of the keys seen (0: free), open addressing.
    keys: [AtomicU64; KEYS],
    /// How often each key in `keys` repeated.
    key_repeats: [AtomicU32; KEYS],
    keys_used: AtomicU32,
    /// Calls of functions that found no free line.
    unslotted: AtomicU64,
    /// Calls whose key found no room (not known to repeat or not).
    unkeyed: AtomicU64,
}

/// Adds one to a cell only the tally's current thread writes (saturating:
/// a count that cannot grow stays at its largest, never wraps to small);
/// returns the new count.
#[inline]
fn bump32(cell: &AtomicU32) -> u32 {
    let n = cell.load(Ordering::Relaxed).saturating_add(1);
    cell.store(n, Ordering::Relaxed);
    n
}

/// Adds `n` to a cell only the tally's current thread writes (saturating).
#[inline]
fn add64(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).saturating_add(n),
        Ordering::Relaxed,
    );
}

/// Mixes a number into a well-spread hash (a multiply and a fold).
#[inline]
pub(crate) fn mix(x: u64) -> u64 {
    let m = u128::from(x) * 0x9E37_79B9_7F4A_7C15;
    #[allow(clippy::cast_possible_truncation)] // the two halves
    let (lo, hi) = (m as u64, (m >> 64) as u64);
    lo ^ hi
}

/// A fast hasher for `repeats_by` keys (a multiply and a fold per eight
/// bytes). Not for untrusted keys in hash tables: a collision here only
/// makes two different keys count as a repeat.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.0 = mix(self.0 ^ u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.0 = mix(self.0 ^ u64::from_le_bytes(word) ^ (rest.len() as u64) << 59);
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0 ^ n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The hash of a `repeats_by` key.
#[inline]
pub(crate) fn key_hash<T: std::hash::Hash + ?Sized>(key: &T) -> u64 {
    let mut hasher = KeyHasher(0x243F_6A88_85A3_08D3);
    key.hash(&mut hasher);
    std::hash::Hasher::finish(&hasher)
}

impl Tally {
    /// An empty tally, on the heap and never freed.
    pub(crate) fn leak() -> &'static Tally {
        Box::leak(Box::new(Tally {
            lines: std::array::from_fn(|_| Line {
                site: AtomicU32::new(0),
                key_repeats: AtomicU32::new(0),
                calls: AtomicU64::new(0),
                repeats: AtomicU64::new(0),
                repeat_ns: AtomicU64::new(0),
            }),
            taken: AtomicU64::new(0),
            keys: std::array::from_fn(|_| AtomicU64::new(0)),
            key_repeats: std::array::from_fn(|_| AtomicU32::new(0)),
            keys_used: AtomicU32::new(0),
            unslotted: AtomicU64::new(0),
            unkeyed: AtomicU64::new(0),
        }))
    }

    /// Counts a call of the site with registry index `site`; returns its
    /// line (`None` when every line is taken by other functions).
    #[inline]
    pub(crate) fn call(&self, site: u32) -> Option<u8> {
        let tag = site.wrapping_add(1);
        let start = usize::try_from(mix(u64::from(site)) >> 58).unwrap_or(0);
        for probe in 0..FUNCTIONS {
            let i = (start + probe) & (FUNCTIONS - 1);
            let line = &self.lines[i];
            let held = line.site.load(Ordering::Relaxed);
            if held == 0 {
                line.site.store(tag, Ordering::Relaxed);
                self.taken.store(
                    self.taken.load(Ordering::Relaxed) | 1 << i,
                    Ordering::Relaxed,
                );
            } else if held != tag {
                continue;
            }
            add64(&line.calls, 1);
            #[allow(clippy::cast_possible_truncation)] // below FUNCTIONS
            return Some(i as u8);
        }
        add64(&self.unslotted, 1);
        None
    }

    /// Notes the key (`hash`) of a call counted on `line`; `true` when an
    /// earlier call of the same function in this request had it (a
    /// repeat, counted).
    pub(crate) fn key(&self, line: u8, hash: u64) -> bool {
        let line = &self.lines[usize::from(line) & (FUNCTIONS - 1)];
        // The function's and the key's hash together; never 0 (free).
        let print = mix(hash ^ u64::from(line.site.load(Ordering::Relaxed))) | 1;
        let start = usize::try_from(print >> 56).unwrap_or(0);
        for probe in 0..KEYS {
            let at = (start + probe) & (KEYS - 1);
            let slot = &self.keys[at];
            let held = slot.load(Ordering::Relaxed);
            if held == print {
                add64(&line.repeats, 1);
                let of_key = bump32(&self.key_repeats[at]);
                if of_key > line.key_repeats.load(Ordering::Relaxed) {
                    line.key_repeats.store(of_key, Ordering::Relaxed);
                }
                return true;
            }
            if held == 0 {
                if self.keys_used.load(Ordering::Relaxed) >= MAX_KEYS {
                    break;
                }
                slot.store(print, Ordering::Relaxed);
                bump32(&self.keys_used);
                return false;
            }
        }
        add64(&self.unkeyed, 1);
        false
    }

    /// Adds the time a repeated call of the site with registry index
    /// `site`, counted on `line`, took. Nothing unless the line holds that
    /// site: the call may have been counted in a request that has ended
    /// since (an async call that outlived its request's scope, or a shared
    /// future finished in another request), and its time must not surface
    /// on whichever function holds the line now.
    pub(crate) fn repeat_time(&self, line: u8, site: u32, ns: u64) {
        let line = &self.lines[usize::from(line) & (FUNCTIONS - 1)];
        if line.site.load(Ordering::Relaxed) == site.wrapping_add(1) {
            add64(&line.repeat_ns, ns);
        }
    }

    /// Every function counted, and the calls past the tally's room
    /// (`unslotted`, `unkeyed`); then empties the tally for its next
    /// request.
    pub(crate) fn drain(&self, out: &mut Vec<Counted>) -> (u64, u64) {
        let mut taken = self.taken.load(Ordering::Relaxed);
        self.taken.store(0, Ordering::Relaxed);
        while taken != 0 {
            let i = taken.trailing_zeros() as usize;
            taken &= taken - 1;
            let line = &self.lines[i];
            let site = line.site.load(Ordering::Relaxed);
            if site == 0 {
                continue;
            }
            out.push(Counted {
                site: site - 1,
                calls: line.calls.load(Ordering::Relaxed),
                repeats: line.repeats.load(Ordering::Relaxed),
                key_repeats: u64::from(line.key_repeats.load(Ordering::Relaxed)),
                repeat_ns: line.repeat_ns.load(Ordering::Relaxed),
            });
            line.site.store(0, Ordering::Relaxed);
            line.key_repeats.store(0, Ordering::Relaxed);
            line.calls.store(0, Ordering::Relaxed);
            line.repeats.store(0, Ordering::Relaxed);
            line.repeat_ns.store(0, Ordering::Relaxed);
        }
        if self.keys_used.load(Ordering::Relaxed) > 0 {
            for (slot, repeats) in self.keys.iter().zip(&self.key_repeats) {
                slot.store(0, Ordering::Relaxed);
                repeats.store(0, Ordering::Relaxed);
            }
            self.keys_used.store(0, Ordering::Relaxed);
        }
        let unslotted = self.unslotted.load(Ordering::Relaxed);
        let unkeyed = self.unkeyed.load(Ordering::Relaxed);
        self.unslotted.store(0, Ordering::Relaxed);
        self.unkeyed.store(0, Ordering::Relaxed);
        (unslotted, unkeyed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn calls_and_repeats_are_counted_per_function() {
        let t = Tally::leak();
        let a = t.call(7).unwrap();
        assert!(!t.key(a, 42));
        let a2 = t.call(7).unwrap();
        assert_eq!(a, a2);
        assert!(t.key(a2, 42), "same key, same function: a repeat");
        let b = t.call(9).unwrap();
        assert_ne!(a, b);
        assert!(!t.key(b, 42), "same key, another function: not a repeat");
        t.repeat_time(a, 7, 1_000);
        t.repeat_time(a, 9, 50_000);
        let mut out = Vec::new();
        assert_eq!(t.drain(&mut out), (0, 0));
        out.sort_by_key(|c| c.site);
        assert_eq!(
            out,
            [
                Counted {
                    site: 7,
                    calls: 2,
                    repeats: 1,
                    key_repeats: 1,
                    repeat_ns: 1_000
                },
                Counted {
                    site: 9,
                    calls: 1,
                    repeats: 0,
                    key_repeats: 0,
                    repeat_ns: 0
                },
            ]
        );
        // Drained: empty for the next request.
        let mut again = Vec::new();
        t.drain(&mut again);
        assert!(again.is_empty());
        let c = t.call(7).unwrap();
        assert!(!t.key(c, 42), "keys are forgotten between requests");
    }

    #[test]
    fn the_most_repeats_of_one_key_are_kept_apart_from_the_total() {
        let t = Tally::leak();
        let line = t.call(3).unwrap();
        // Keys 1 and 2 twice each (one repeat each), key 3 four times.
        for key in [1, 1, 2, 2, 3, 3, 3, 3] {
            t.key(line, key);
        }
        let mut out = Vec::new();
        t.drain(&mut out);
        assert_eq!((out[0].repeats, out[0].key_repeats), (5, 3));
        // Forgotten with the keys: the next request starts from zero.
        let line = t.call(3).unwrap();
        t.key(line, 3);
        assert!(t.key(line, 3));
        // A late repeat's time for a free line is dropped, not kept for
        // the next request on that line.
        let free = (line + 1) % 64;
        t.repeat_time(free, 3, 7);
        let mut next = Vec::new();
        t.drain(&mut next);
        assert_eq!((next[0].repeats, next[0].key_repeats), (1, 1));
        assert_eq!(next.len(), 1);
        let taken = t.call(0).unwrap();
        assert_ne!(
            taken, free,
            "a different line: the check below is not vacuous"
        );
        let mut after = Vec::new();
        // Taken by hand (as a call of site 0 would): the drain reads it.
        t.lines[usize::from(free)].site.store(1, Ordering::Relaxed);
        t.taken.store(
            t.taken.load(Ordering::Relaxed) | 1 << free,
            Ordering::Relaxed,
        );
        t.drain(&mut after);
        assert_eq!(after.len(), 2);
        assert!(after.iter().all(|c| c.repeat_ns == 0), "{after:?}");
    }

    #[test]
    fn a_count_that_cannot_grow_stays_at_its_largest() {
        let cell = AtomicU32::new(u32::MAX - 1);
        assert_eq!(bump32(&cell), u32::MAX);
        assert_eq!(bump32(&cell), u32::MAX, "saturates, never wraps to 0");
        let wide = AtomicU64::new(u64::MAX - 1);
        add64(&wide, 5);
        assert_eq!(wide.load(Ordering::Relaxed), u64::MAX);
    }

    #[test]
    fn past_its_room_a_tally_counts_what_it_cannot_hold() {
        let t = Tally::leak();
        for site in 0..u32::try_from(FUNCTIONS).unwrap() + 3 {
            let _ = t.call(site);
        }
        let line = t.call(0).unwrap();
        for key in 0..u64::from(MAX_KEYS) + 5 {
            t.key(line, key);
        }
        let mut out = Vec::new();
        assert_eq!(t.drain(&mut out), (3, 5));
        assert_eq!(out.len(), FUNCTIONS);
        assert_eq!(
            out.iter().map(|c| c.calls).sum::<u64>(),
            FUNCTIONS as u64 + 1
        );
    }
}
