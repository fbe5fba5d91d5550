//! When a replaced chain may be freed: epoch-based reclamation with
//! per-thread announcements and an asymmetric barrier.
//!
//! # The problem
//!
//! A call through a [`super::HookSlot`] loads the current chain and runs it,
//! without a lock and without touching a reference count (those would cost
//! more than the call). A change publishes a new chain; the old one may still
//! be running on other threads, so it can only be freed (and the values its
//! layers captured dropped) once no call can still be inside it.
//!
//! # The protocol
//!
//! * Every thread that calls through a slot's layers has a [`Reader`]
//!   record (its thread-local storage points at it): one word, `epoch,
//!   fenced, depth`. (A slot without layers runs a chain that is never retired;
//!   its calls do not come here.) Entering its
//!   outermost slot call, a thread stores the global epoch there with depth
//!   1; a nested call only raises the depth; leaving lowers it. Only the
//!   owning thread writes its record: release stores (plain moves on
//!   x86), no read-modify-write. Release, every one: a writer that reads
//!   a record must see all its thread did before, the chains its finished
//!   calls ran among them. The domain lists every record; a thread takes
//!   its own out when it exits.
//! * A change swaps in the new chain, then advances the global epoch and
//!   tags the old chain with the epoch before the advance. A call that
//!   announced a later epoch read the epoch after the advance, hence (by the
//!   release/acquire pair on the epoch) the chain after the swap: it cannot
//!   hold the old one.
//! * To free, a writer runs a *heavy barrier* and then reads every record:
//!   a chain may be freed when every thread inside a slot call announced an
//!   epoch later than the chain's tag.
//!
//! The announcement must be visible before the call loads the chain (a
//! store followed by a load: only a full fence orders them). Calls are hot
//! and changes rare, so the fence is moved to the writer: on Linux the
//! reader issues only a compiler fence, and the writer's heavy barrier is
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which makes every thread
//! of the process execute a full fence. After it, for each thread, either
//! its announcement is visible to the writer, or its later load of the chain
//! sees the new one. Where the system call is missing (other systems, old
//! kernels), readers issue a real fence and the writer a plain one: a
//! thread learns which when it takes its record (after the registration,
//! which never changes once made) and marks the record *fenced*, whose
//! idle value is then not 0, so the common case's one test sends the
//! thread to the entry that fences. (Loom has no asymmetric barrier: under
//! loom records are not marked, and every announcement fences, so the
//! models run the common case's code.)
//!
//! The global epoch word holds the epoch already shifted into place, with
//! depth 1: the outermost call's announcement is that word, stored as it
//! was loaded. That leaves the epoch 48 bits: it stops at its largest
//! value rather than wrap (a wrapped epoch would read as older than the
//! calls still inside the chains it tags, and free them). That is 2^48
//! changes, nine years at a million changes a second; past it, replaced
//! chains are kept until their slot is dropped.
//!
//! A thread without a record (a slot called from a thread-local destructor
//! at thread exit), and a call nested deeper than a record can count
//! (32,767 slot calls), count themselves in a shared counter instead, with
//! read-modify-writes and a full fence; while it is non-zero, nothing is
//! freed.
//!
//! Records are allocated once and never freed: a thread that exits takes
//! its record off the list and puts it in a pool for the next thread. So
//! the list never points at freed memory, whatever order a platform
//! destroys thread-locals in (on some, even a `const` thread-local without
//! a destructor is freed at thread exit); a thread reaches its record
//! through a pointer in its thread-local storage.
//!
//! Every announced call announces the *global* epoch (a word only changes write, on
//! its own cache line): a call through a slot that never changes must not
//! hold back chains retired by other slots.
//!
//! A call that never returns keeps every chain retired after it started.
//! After `fork`, the child keeps the records of the parent's other threads
//! as they were: if one was inside a slot call, the child frees nothing.

use std::cell::Cell;

use crate::sync::{compiler_fence, fence, global, lock, AtomicU64, AtomicUsize, Mutex, Ordering};

/// Low bits of a record: how deeply the thread is nested in slot calls.
const DEPTH_BITS: u32 = 15;
const DEPTH_MASK: u64 = (1 << DEPTH_BITS) - 1;
/// The bit above the depth: the record's thread fences itself (there is no
/// asymmetric barrier). Set in the record's idle value, so that the common
/// case's test (all low bits 0) fails and the thread enters by
/// [`enter_otherwise`], which fences.
const FENCED: u64 = 1 << DEPTH_BITS;
/// What the common case tests: idle, and not fenced.
const LOW_MASK: u64 = DEPTH_MASK | FENCED;
/// Where the epoch starts in a record and in the global epoch word.
const EPOCH_SHIFT: u32 = DEPTH_BITS + 1;
/// What one advance adds to the global epoch word.
const STEP: u64 = 1 << EPOCH_SHIFT;
/// The global epoch word at the largest epoch, where it stops.
const LAST_WORD: u64 = !(STEP - 1) | 1;

/// One thread's announcement (see the module documentation). Only its
/// thread writes it.
pub(crate) struct Reader {
    state: AtomicU64,
}

/// The records: those of live threads (listed), and those of exited ones
/// (free, for the next thread).
struct Records {
    listed: Vec<&'static Reader>,
    free: Vec<&'static Reader>,
}

/// The global epoch word, alone on its cache line: every call reads it,
/// only changes write it. It holds `epoch << EPOCH_SHIFT | 1`: an outermost
/// call's announcement (depth 1), ready to store.
#[repr(align(128))]
struct Epoch(AtomicU64);

/// The global state of the protocol.
pub(crate) struct Domain {
    epoch: Epoch,
    records: Mutex<Records>,
    /// Calls in progress without a record (or too deeply nested for it).
    untracked: AtomicUsize,
}

global! {
    /// The one domain of the process.
    DOMAIN: Domain = Domain {
        epoch: Epoch(AtomicU64::new(STEP | 1)),
        records: Mutex::new(Records { listed: Vec::new(), free: Vec::new() }),
        untracked: AtomicUsize::new(0),
    };
}

#[cfg(not(loom))]
std::thread_local! {
    /// This thread's record, once it has one. No destructor: reaching it
    /// is a plain thread-local access.
    static READER: Cell<Option<&'static Reader>> = const { Cell::new(None) };
    static OWNER: Owner = const { Owner(Cell::new(None)) };
}

#[cfg(loom)]
loom::thread_local! {
    static READER: Cell<Option<&'static Reader>> = Cell::new(None);
    static OWNER: Owner = Owner(Cell::new(None));
}

/// Gives this thread's record back when the thread exits: off the list,
/// idle, into the pool. It holds the record itself: thread-locals are
/// destroyed in no particular order. (Under loom, whose globals may be
/// gone when a model's thread-locals are destroyed, records stay listed:
/// an exited thread's record reads as idle.)
struct Owner(Cell<Option<&'static Reader>>);

#[cfg(not(loom))]
impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(reader) = self.0.take() {
            // Later calls on this thread (from other thread-local
            // destructors) count in the shared counter.
            let _ = READER.try_with(|r| r.set(None));
            let mut records = lock(&DOMAIN.get().records);
            records.listed.retain(|l| !std::ptr::eq(*l, reader));
            // Not in a call: thread-locals are destroyed between calls.
            // (Release as every store to a record, though the records'
            // mutex, held here, orders it already. The next thread to take
            // the record sets its idle value.)
            reader.state.store(0, Ordering::Release);
            records.free.push(reader);
        }
    }
}

/// One call through a slot, from entry to exit: while it lives, no chain
/// the call can have loaded is freed. It holds the thread's record and
/// what the record held before the call, which the exit puts back: a store
/// that does not wait on reading the record again. Without a record, the
/// call is counted in the shared counter.
pub(crate) struct Entered {
    reader: Option<&'static Reader>,
    before: u64,
}

/// Enters a call (see the module documentation): what a slot's layered
/// call does in two steps, so that its common case calls nothing.
#[cfg(all(test, not(loom)))]
fn enter() -> Entered {
    match enter_outermost() {
        Ok(entered) => entered,
        Err(found) => enter_otherwise(found),
    }
}

/// What [`enter_outermost`] found when it could not enter: the thread's
/// record and what it holds (the thread is in a slot call, or fences
/// itself), or no record.
pub(crate) type NotOutermost = Option<(&'static Reader, u64)>;

/// Enters a call in the common case, calling nothing: the thread has its
/// record, is in no slot call, and needs no fence (one test). Otherwise
/// nothing is done, and [`enter_otherwise`] goes on from what was found.
#[inline]
pub(crate) fn enter_outermost() -> Result<Entered, NotOutermost> {
    let Ok(Some(reader)) = READER.try_with(Cell::get) else {
        return Err(None);
    };
    let before = reader.state.load(Ordering::Relaxed);
    if before & LOW_MASK != 0 {
        return Err(Some((reader, before)));
    }
    debug_assert_eq!(before, 0, "an idle record holds 0");
    announce(reader, 0);
    Ok(Entered {
        reader: Some(reader),
        // What the record held: an idle record that needs no fence is
        // always 0 (a record is set idle when a thread takes it, and every
        // exit to idle puts back what it found). A constant, so the exit
        // keeps nothing of the entry across the call.
        before: 0,
    })
}

/// Enters a call when [`enter_outermost`] could not: a nested call, an
/// outermost call of a thread that fences itself, or a thread without its
/// record yet (or any more).
#[inline]
pub(crate) fn enter_otherwise(found: NotOutermost) -> Entered {
    match found {
        Some((reader, before)) if before & DEPTH_MASK != 0 => enter_nested(reader, before),
        Some((reader, idle)) => enter_fenced(reader, idle),
        None => enter_slow(),
    }
}

/// An outermost call of a thread that fences itself: the announcement
/// keeps the record's fenced bit, and the exit puts the idle value back.
#[inline(never)]
fn enter_fenced(reader: &'static Reader, idle: u64) -> Entered {
    debug_assert_eq!(idle, FENCED, "an idle fenced record");
    announce(reader, idle);
    Entered {
        reader: Some(reader),
        before: idle,
    }
}

/// A nested call: the outer call's announcement covers every chain this
/// call can load (any of them is retired with a later tag). Past what the
/// record can count, the call is counted in the shared counter.
#[inline(never)]
fn enter_nested(reader: &'static Reader, before: u64) -> Entered {
    if before & DEPTH_MASK == DEPTH_MASK {
        return untracked();
    }
    // Release: see `announce`.
    reader.state.store(before + 1, Ordering::Release);
    Entered {
        reader: Some(reader),
        before,
    }
}

/// First call on this thread (takes a record), or a call while the
/// thread's thread-locals are being destroyed (counted in the shared
/// counter).
#[cold]
#[inline(never)]
fn enter_slow() -> Entered {
    let domain = DOMAIN.get();
    // Registered (or not) for good once this returns: whether this thread
    // must fence never changes.
    barrier::init();
    let idle = if barrier::registered() || cfg!(loom) {
        0
    } else {
        FENCED
    };
    let attached = OWNER.try_with(|owner| {
        let reader = {
            let mut records = lock(&domain.records);
            let reader = records.free.pop().unwrap_or_else(|| {
                Box::leak(Box::new(Reader {
                    state: AtomicU64::new(0),
                }))
            });
            // Release: see `announce`.
            reader.state.store(idle, Ordering::Release);
            records.listed.push(reader);
            reader
        };
        owner.0.set(Some(reader));
        reader
    });
    match attached {
        Ok(reader) if READER.try_with(|r| r.set(Some(reader))).is_ok() => {
            announce(reader, idle);
            Entered {
                reader: Some(reader),
                before: idle,
            }
        }
        // The record stays with the owner, which gives it back at exit.
        _ => untracked(),
    }
}

/// A call counted in the shared counter: the writer sees the count (then
/// frees nothing), or this call sees the new chain.
#[cold]
#[inline(never)]
fn untracked() -> Entered {
    DOMAIN.get().untracked.fetch_add(1, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    Entered {
        reader: None,
        before: 0,
    }
}

/// The outermost call's announcement: the epoch and depth 1 (the global
/// word as it is), with the record's fenced bit from its idle value `idle`;
/// then the reader's side of the barrier (ordering only, when the writer's
/// barrier makes up for it).
#[inline]
fn announce(reader: &Reader, idle: u64) {
    let word = DOMAIN.get().epoch.0.load(Ordering::Acquire);
    // Release, as every store to a record: a writer that reads this value
    // (and frees what it allows) must also see everything this thread did
    // before it, the chains its earlier calls ran among them. (A release
    // store of an earlier exit does not carry over to a later relaxed
    // store: a release sequence holds read-modify-writes only.)
    reader.state.store(word | idle, Ordering::Release);
    if idle & FENCED == 0 && !cfg!(loom) {
        compiler_fence(Ordering::SeqCst);
    } else {
        full_fence();
    }
}

/// A reader's full fence, where the writer's barrier cannot make up for it
/// (no `membarrier`: other systems, old kernels, and loom). Out of line and
/// cold: it is never on the path of a thread that needs no fence.
#[cold]
#[inline(never)]
fn full_fence() {
    fence(Ordering::SeqCst);
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        match self.reader {
            // Everything the call did with the chain happens before this.
            Some(reader) => reader.state.store(self.before, Ordering::Release),
            None => {
                DOMAIN.get().untracked.fetch_sub(1, Ordering::Release);
            }
        }
    }
}

/// Whether this thread is inside a call through a slot (counted on its
/// record; calls without one are not seen).
pub(crate) fn in_call() -> bool {
    matches!(
        READER.try_with(Cell::get),
        Ok(Some(reader)) if reader.state.load(Ordering::Relaxed) & DEPTH_MASK != 0
    )
}

/// Registers the process for the asymmetric barrier (at a slot's
/// creation), so calls need no fence from the start.
pub(crate) fn init() {
    barrier::init();
}

/// Advances the epoch after a slot replaced its chain; returns the tag of
/// the replaced chain.
pub(crate) fn retire() -> u64 {
    let word = &DOMAIN.get().epoch.0;
    // A compare-exchange, not an add: the epoch stops at its largest value
    // (see the module documentation). Changes are rare.
    let before = match word.fetch_update(Ordering::AcqRel, Ordering::Acquire, advanced) {
        Ok(before) | Err(before) => before,
    };
    before >> EPOCH_SHIFT
}

/// The global epoch word one epoch on; `None` at the last epoch, where it
/// stops.
fn advanced(word: u64) -> Option<u64> {
    (word < LAST_WORD).then(|| word + STEP)
}

/// The oldest tag that may not be freed yet: chains tagged below it may be
/// (0 when nothing may be freed now). A chain retired after this starts has
/// a tag at least the epoch read first, so it is never below the result.
pub(crate) fn oldest_in_use() -> u64 {
    let domain = DOMAIN.get();
    let now = domain.epoch.0.load(Ordering::Acquire) >> EPOCH_SHIFT;
    if !heavy_barrier() {
        return 0;
    }
    if domain.untracked.load(Ordering::Acquire) > 0 {
        return 0;
    }
    let records = lock(&domain.records);
    records
        .listed
        .iter()
        .map(|r| r.state.load(Ordering::Acquire))
        .filter(|state| state & DEPTH_MASK != 0)
        .map(|state| state >> EPOCH_SHIFT)
        .fold(now, u64::min)
}

/// The writer's side: every thread of the process executes a full fence.
/// `false` if the barrier failed (then nothing may be freed).
fn heavy_barrier() -> bool {
    match barrier::heavy() {
        barrier::Heavy::Done => true,
        barrier::Heavy::Failed => false,
        barrier::Heavy::Unavailable => {
            // Readers fence too: a plain fence completes the pair.
            fence(Ordering::SeqCst);
            true
        }
    }
}

/// The asymmetric barrier: `membarrier` on Linux.
#[cfg(all(target_os = "linux", not(loom)))]
mod barrier {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Once;

    use rustix::thread::{membarrier, membarrier_query, MembarrierCommand, MembarrierQuery};

    /// Whether the process is registered for private expedited barriers.
    static REGISTERED: AtomicBool = AtomicBool::new(false);

    pub(super) use super::Heavy;

    /// Registers the process for private expedited barriers (once; at the
    /// first call through a slot on any thread, or the first reclamation).
    pub(super) fn init() {
        static REGISTER: Once = Once::new();
        REGISTER.call_once(|| {
            let supported = membarrier_query().contains(MembarrierQuery::PRIVATE_EXPEDITED)
                && membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok();
            if supported {
                // Threads that take their records from now on skip their
                // fence: every barrier from here on is a real one.
                REGISTERED.store(true, Ordering::SeqCst);
            }
        });
    }

    /// Whether the process is registered: final once [`init`] returned.
    pub(super) fn registered() -> bool {
        REGISTERED.load(Ordering::SeqCst)
    }

    /// Runs the heavy barrier.
    pub(super) fn heavy() -> Heavy {
        init();
        if !REGISTERED.load(Ordering::SeqCst) {
            Heavy::Unavailable
        } else if membarrier(MembarrierCommand::PrivateExpedited).is_ok() {
            Heavy::Done
        } else {
            Heavy::Failed
        }
    }
}

/// No asymmetric barrier: readers and writers both fence.
#[cfg(any(not(target_os = "linux"), loom))]
mod barrier {
    pub(super) use super::Heavy;

    pub(super) fn init() {}

    pub(super) fn registered() -> bool {
        false
    }

    pub(super) fn heavy() -> Heavy {
        Heavy::Unavailable
    }
}

/// What the heavy barrier did.
#[cfg_attr(any(not(target_os = "linux"), loom), allow(dead_code))]
enum Heavy {
    /// Every thread executed a full fence.
    Done,
    /// There is none: readers fence themselves.
    Unavailable,
    /// The system call failed although readers rely on it.
    Failed,
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Taken by every test that takes records: a test that checks where an
    /// exited thread's record went must not see another test's thread take
    /// it meanwhile.
    static TURN: Mutex<()> = Mutex::new(());

    /// Runs `check` on a thread of its own (its turn taken), once a first
    /// call there took the thread's record; `check` gets the record.
    fn on_a_thread_with_its_record(check: impl FnOnce(&'static Reader) + Send + 'static) {
        let _turn = lock(&TURN);
        std::thread::spawn(|| {
            drop(enter());
            check(READER.with(Cell::get).expect("attached at the first call"));
        })
        .join()
        .unwrap();
    }

    /// Calls nested deeper than a record counts are counted in the shared
    /// counter, so nothing is freed while they run; leaving them all puts
    /// the record back as it was. (A record whose depth overflowed into the
    /// fenced bit would read as idle, and let a chain in use be freed.)
    #[test]
    fn calls_nested_past_what_a_record_counts_still_hold_reclamation() {
        let _turn = lock(&TURN);
        // On a thread of its own: its record starts idle.
        std::thread::spawn(|| {
            let mut entered: Vec<Entered> = Vec::new();
            for _ in 0..DEPTH_MASK {
                entered.push(enter());
            }
            let reader = READER.with(Cell::get).expect("attached at the first call");
            assert_eq!(
                reader.state.load(Ordering::Relaxed) & DEPTH_MASK,
                DEPTH_MASK
            );
            let untracked_before = DOMAIN.get().untracked.load(Ordering::Relaxed);
            // Two more: past the record's count.
            entered.push(enter());
            entered.push(enter());
            assert_eq!(
                DOMAIN.get().untracked.load(Ordering::Relaxed),
                untracked_before + 2
            );
            assert_eq!(
                reader.state.load(Ordering::Relaxed) & DEPTH_MASK,
                DEPTH_MASK
            );
            assert!(in_call());
            // Nothing may be freed now.
            assert_eq!(oldest_in_use(), 0);
            while let Some(e) = entered.pop() {
                drop(e);
            }
            assert_eq!(reader.state.load(Ordering::Relaxed) & DEPTH_MASK, 0);
            assert!(!in_call());
        })
        .join()
        .unwrap();
    }

    /// A thread's outermost call stores the global epoch word in its record
    /// (depth 1, with the fenced bit where the thread must fence), and its
    /// exit puts the idle value back.
    #[test]
    fn an_outermost_call_announces_the_epoch_word() {
        // The first call took the record: the next is the common case.
        on_a_thread_with_its_record(|reader| {
            let idle = reader.state.load(Ordering::Relaxed);
            assert_eq!(idle, if barrier::registered() { 0 } else { FENCED });
            let word = DOMAIN.get().epoch.0.load(Ordering::Acquire);
            let entered = enter();
            let state = reader.state.load(Ordering::Relaxed);
            assert_eq!(state & LOW_MASK, idle | 1);
            // (Other tests' changes may advance the epoch meanwhile.)
            assert!(state >> EPOCH_SHIFT >= word >> EPOCH_SHIFT);
            assert!(in_call());
            drop(entered);
            assert_eq!(reader.state.load(Ordering::Relaxed), idle);
        });
    }

    /// The epoch stops at its largest value instead of wrapping to 0, which
    /// would make new tags read as older than the calls still running.
    #[test]
    fn the_epoch_stops_at_its_last_value() {
        assert_eq!(LAST_WORD >> EPOCH_SHIFT, (1 << 48) - 1);
        assert_eq!(LAST_WORD & LOW_MASK, 1, "an announcement: depth 1");
        assert_eq!(advanced(LAST_WORD - STEP), Some(LAST_WORD));
        assert_eq!(advanced(LAST_WORD), None);
        assert_eq!(advanced(STEP | 1), Some((2 * STEP) | 1));
    }

    /// A thread that fences itself (no asymmetric barrier) has a record
    /// whose idle value is the fenced bit: its calls take the fenced entry,
    /// which keeps the bit through nested calls, announces the epoch where
    /// a writer reads it, and puts the idle value back at the exit.
    #[test]
    fn a_fenced_record_keeps_its_bit_and_announces_its_epoch() {
        on_a_thread_with_its_record(|reader| {
            // As a thread of a process without the barrier holds it.
            reader.state.store(FENCED, Ordering::Release);
            let epoch = DOMAIN.get().epoch.0.load(Ordering::Acquire) >> EPOCH_SHIFT;
            let outer = enter();
            let state = reader.state.load(Ordering::Relaxed);
            assert_eq!(state & LOW_MASK, FENCED | 1, "fenced, depth 1");
            assert!(state >> EPOCH_SHIFT >= epoch, "the epoch, unshifted");
            let inner = enter();
            assert_eq!(
                reader.state.load(Ordering::Relaxed),
                state + 1,
                "nested: the depth only"
            );
            // A chain retired now is tagged with an epoch this call
            // announced: it may not be freed.
            let tag = retire();
            assert!(oldest_in_use() <= tag);
            drop(inner);
            assert_eq!(reader.state.load(Ordering::Relaxed), state);
            drop(outer);
            assert_eq!(reader.state.load(Ordering::Relaxed), FENCED);
            assert!(!in_call());
        });
    }

    /// An exited thread's record goes back to the pool, off the list, and
    /// the next thread takes it: records are never freed, and their number
    /// is the most threads that called through slots at once.
    #[test]
    fn records_of_exited_threads_are_reused() {
        let _turn = lock(&TURN);
        let first = std::thread::spawn(|| {
            drop(enter());
            READER
                .with(Cell::get)
                .map(|r| std::ptr::from_ref(r) as usize)
        })
        .join()
        .unwrap()
        .expect("attached");
        let listed = |addr: usize| {
            lock(&DOMAIN.get().records)
                .listed
                .iter()
                .any(|r| std::ptr::from_ref(*r) as usize == addr)
        };
        assert!(!listed(first), "taken off the list at thread exit");
        // Some thread takes it over (other tests may be taking records too).
        let taken = (0..100).any(|_| {
            std::thread::spawn(move || {
                drop(enter());
                READER
                    .with(Cell::get)
                    .map(|r| std::ptr::from_ref(r) as usize)
                    == Some(first)
            })
            .join()
            .unwrap()
        });
        assert!(taken);
    }
}
