//! What a call records: one counter per [`Event`], kept as an array indexed
//! by the event, so a new counter is one variant here (with its label),
//! its field in [`crate::Stats`] and its line in the exports.

use crate::sync::{AtomicU64, Ordering};

/// An event of a call, each with its own counter. A call's start is
/// [`Event::Call`]; it ends with exactly one outcome (see
/// [`Event::OUTCOMES`]); [`Event::Overflow`] counts a call that stepped
/// aside at a depth limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A call started.
    Call,
    /// A call returned, with anything but `Err(_)`.
    Ok,
    /// A call returned `Err(_)`.
    Err,
    /// A panic unwound through a call.
    Panic,
    /// An async call's future was dropped before it completed.
    Cancelled,
    /// A call went past `max_depth` or the per-thread ceiling.
    Overflow,
}

impl Event {
    /// How many events there are.
    pub(crate) const COUNT: usize = 6;

    /// The outcomes: exactly one per finished call.
    pub(crate) const OUTCOMES: [Event; 4] = [Event::Ok, Event::Err, Event::Panic, Event::Cancelled];

    /// Its label in exports (the `result` of a finished call).
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Event::Call => "call",
            Event::Ok => "ok",
            Event::Err => "error",
            Event::Panic => "panic",
            Event::Cancelled => "cancelled",
            Event::Overflow => "overflow",
        }
    }
}

/// One counter per event.
pub(crate) struct Counters([AtomicU64; Event::COUNT]);

crate::sync::const_unless_loom! {
    /// Zeroed counters.
    pub(crate) fn new_counters() -> Counters {
        Counters([
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
        ])
    }
}

impl Counters {
    /// The counter of `event`.
    #[inline]
    pub(crate) fn of(&self, event: Event) -> &AtomicU64 {
        &self.0[event as usize]
    }

    /// Adds one to the counter of `event` where only the calling thread
    /// writes it: a load and a store, no read-modify-write. `Release` for
    /// outcomes (see the module documentation).
    #[inline]
    pub(crate) fn bump(&self, event: Event, order: Ordering) {
        let cell = self.of(event);
        cell.store(cell.load(Ordering::Relaxed).wrapping_add(1), order);
    }

    /// Adds one with a read-modify-write (counters shared by threads).
    pub(crate) fn add(&self, event: Event, order: Ordering) {
        self.of(event).fetch_add(1, order);
    }

    /// Adds every outcome and the overflows to `sums` (outcomes acquire:
    /// see the module documentation).
    pub(crate) fn read_outcomes(&self, sums: &mut [u64; Event::COUNT]) {
        for event in Event::OUTCOMES {
            sums[event as usize] += self.of(event).load(Ordering::Acquire);
        }
        sums[Event::Overflow as usize] += self.of(Event::Overflow).load(Ordering::Relaxed);
    }

    /// Adds the starts to `sums`.
    pub(crate) fn read_calls(&self, sums: &mut [u64; Event::COUNT]) {
        sums[Event::Call as usize] += self.of(Event::Call).load(Ordering::Acquire);
    }
}
