//! What a call records: one counter per [`Event`], kept as an array indexed
//! by the event. A new counter is one line in `events!` (its name and
//! label), its field in [`crate::Stats`] (with the line that fills it from
//! the counters and its arm in `Stats::count`), and its place in the
//! exports.

use crate::sync::{AtomicU64, Ordering};

/// Declares the events once: the enum, the list of all, their number and
/// their export labels.
macro_rules! events {
    ($($(#[$doc:meta])* $event:ident => $label:literal,)*) => {
        /// An event of a call, each with its own counter. A call's start is
        /// [`Event::Call`]; it ends with exactly one outcome (see
        /// [`Event::OUTCOMES`]); [`Event::Overflow`] counts a call that
        /// stepped aside at a depth limit.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Event {
            $($(#[$doc])* $event,)*
        }

        impl Event {
            /// Every event, in counter order.
            pub(crate) const ALL: &'static [Event] = &[$(Event::$event),*];
            /// How many events there are.
            pub(crate) const COUNT: usize = Event::ALL.len();

            /// Its label in exports (the `result` of a finished call).
            pub(crate) const fn label(self) -> &'static str {
                match self {
                    $(Event::$event => $label,)*
                }
            }
        }
    };
}

events! {
    /// A call started.
    Call => "call",
    /// A call returned, with anything but `Err(_)`.
    Ok => "ok",
    /// A call returned `Err(_)`.
    Err => "error",
    /// A panic unwound through a call.
    Panic => "panic",
    /// An async call's future was dropped before it completed.
    Cancelled => "cancelled",
    /// A call went past `max_depth` or the per-thread ceiling.
    Overflow => "overflow",
}

impl Event {
    /// The outcomes: exactly one per finished call.
    pub(crate) const OUTCOMES: [Event; 4] = [Event::Ok, Event::Err, Event::Panic, Event::Cancelled];
}

/// One counter per event.
pub(crate) struct Counters([AtomicU64; Event::COUNT]);

/// Zeroed counters.
#[cfg(not(loom))]
pub(crate) const fn new_counters() -> Counters {
    Counters([const { AtomicU64::new(0) }; Event::COUNT])
}

/// Zeroed counters.
#[cfg(loom)]
pub(crate) fn new_counters() -> Counters {
    Counters(std::array::from_fn(|_| AtomicU64::new(0)))
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
