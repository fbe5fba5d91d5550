//! What a call records: one counter per [`Event`], kept as an array indexed
//! by the event. A new counter is one line in `events!` (its name, its
//! export label and its kind) and one field in [`crate::Stats`]: the
//! compiler then asks for its arm in `Stats::count` and its value where a
//! snapshot fills `Stats`; reading, resetting and the exports go through
//! the list.

use crate::sync::{AtomicU64, Ordering};

/// What kind of count an event is: how a snapshot reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A call's start: read after everything else.
    Start,
    /// How a call ended: exactly one per finished call, read first.
    Outcome,
    /// Something else about a call, read with the outcomes.
    Note,
}

/// Declares the events once: the enum, the list of all, their number,
/// their export labels and their kinds.
macro_rules! events {
    ($($(#[$doc:meta])* $event:ident => $label:literal, $kind:ident;)*) => {
        /// An event of a call, each with its own counter.
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

            /// What kind of count it is.
            pub(crate) const fn kind(self) -> Kind {
                match self {
                    $(Event::$event => Kind::$kind,)*
                }
            }
        }
    };
}

events! {
    /// A call started.
    Call => "call", Start;
    /// A call returned, with anything but `Err(_)`.
    Ok => "ok", Outcome;
    /// A call returned `Err(_)`.
    Err => "error", Outcome;
    /// A panic unwound through a call.
    Panic => "panic", Outcome;
    /// An async call's future was dropped before it completed.
    Cancelled => "cancelled", Outcome;
    /// A call went past `max_depth` or the per-thread ceiling.
    Overflow => "overflow", Note;
    /// A call of a function with timing returned without being timed (the
    /// global switch was off). A function without timing counts none.
    Untimed => "untimed", Note;
    /// A timed call returned and its latency found no bucket (the
    /// histogram memory cap).
    Unbucketed => "unbucketed", Note;
}

impl Event {
    /// The outcomes, in counter order.
    pub(crate) fn outcomes() -> impl Iterator<Item = Event> {
        Event::ALL
            .iter()
            .copied()
            .filter(|e| e.kind() == Kind::Outcome)
    }
}

/// How a call ended (an outcome [`Event`], by type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Err,
    Panic,
    Cancelled,
}

impl Outcome {
    /// How a call that returned ended: `Err` when `is_err` (the generated
    /// code's classification of the returned value), else `Ok`.
    #[inline]
    pub(crate) const fn of_return(is_err: bool) -> Outcome {
        if is_err {
            Outcome::Err
        } else {
            Outcome::Ok
        }
    }

    /// Its counter.
    #[inline]
    pub(crate) const fn event(self) -> Event {
        match self {
            Outcome::Ok => Event::Ok,
            Outcome::Err => Event::Err,
            Outcome::Panic => Event::Panic,
            Outcome::Cancelled => Event::Cancelled,
        }
    }

    /// Whether the call returned (with a value, `Err` included).
    #[inline]
    pub(crate) const fn returned(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Err)
    }
}

/// One counter per event.
pub(crate) struct Counters([AtomicU64; Event::COUNT]);

impl Counters {
    /// Zeroed counters.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Counters {
        Counters([const { AtomicU64::new(0) }; Event::COUNT])
    }

    /// Zeroed counters.
    #[cfg(loom)]
    pub(crate) fn new() -> Counters {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }

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

    /// Adds every count but the starts to `sums` (acquire: see the module
    /// documentation).
    pub(crate) fn read_ends(&self, sums: &mut [u64; Event::COUNT]) {
        for event in Event::ALL.iter().filter(|e| e.kind() != Kind::Start) {
            sums[*event as usize] += self.of(*event).load(Ordering::Acquire);
        }
    }

    /// Adds the starts to `sums`.
    pub(crate) fn read_starts(&self, sums: &mut [u64; Event::COUNT]) {
        for event in Event::ALL.iter().filter(|e| e.kind() == Kind::Start) {
            sums[*event as usize] += self.of(*event).load(Ordering::Acquire);
        }
    }
}
