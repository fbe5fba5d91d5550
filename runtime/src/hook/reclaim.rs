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
//! * Every thread that calls through a slot has a [`Reader`] record in its
//!   thread-local storage: one word, `epoch, attached, depth`. Entering its
//!   outermost slot call, a thread stores the global epoch there with depth
//!   1; a nested call only raises the depth; leaving lowers it (a release
//!   store). Only the owning thread writes its record: plain stores, no
//!   read-modify-write. The domain lists every record; a thread takes its
//!   own out when it exits.
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
//! kernels), readers issue a real fence and the writer a plain one.
//!
//! A thread whose record is gone (a slot called from a thread-local
//! destructor at thread exit) counts itself in a shared counter instead,
//! with read-modify-writes; while it is non-zero, nothing is freed.
//!
//! A call that never returns keeps every chain retired after it started.

use std::ptr::NonNull;

use crate::sync::{compiler_fence, fence, global, lock, AtomicU64, AtomicUsize, Mutex, Ordering};

/// Low bits of a record: how deeply the thread is nested in slot calls.
const DEPTH_BITS: u32 = 15;
const DEPTH_MASK: u64 = (1 << DEPTH_BITS) - 1;
/// Set while the record is in the domain's list (from the thread's first
/// slot call until its thread-locals are destroyed).
const ATTACHED: u64 = 1 << DEPTH_BITS;
/// Where the epoch starts in a record.
const EPOCH_SHIFT: u32 = DEPTH_BITS + 1;
/// Low bit of the global epoch word: readers must fence (no asymmetric
/// barrier, or not registered yet). The count is in the bits above, so a
/// reader learns both with the one load it makes anyway.
const FENCE: u64 = 1;
/// What one advance adds to the epoch word.
const STEP: u64 = 2;

/// One thread's announcement (see the module documentation), in the
/// thread's own thread-local storage: a call reaches it without following a
/// pointer. Only its thread writes it.
pub(crate) struct Reader {
    state: AtomicU64,
}

/// A record in the domain's list: the address of a thread's [`Reader`].
struct Listed(NonNull<Reader>);

// SAFETY: a `Listed` is only dereferenced under the domain's lock, and a
// thread takes its record out of the list (under that lock) before its
// thread-local storage goes away (`Owner::drop`).
#[allow(unsafe_code)]
unsafe impl Send for Listed {}

/// The global state of the protocol.
pub(crate) struct Domain {
    epoch: AtomicU64,
    readers: Mutex<Vec<Listed>>,
    /// Calls in progress on threads without a record.
    untracked: AtomicUsize,
}

global! {
    /// The one domain of the process.
    DOMAIN: Domain = Domain {
        epoch: AtomicU64::new(STEP | FENCE),
        readers: Mutex::new(Vec::new()),
        untracked: AtomicUsize::new(0),
    };
}

#[cfg(not(loom))]
std::thread_local! {
    /// This thread's record. No destructor, so reaching it is a plain
    /// thread-local access (and it outlives [`OWNER`], which takes it out
    /// of the list when the thread exits).
    static READER: Reader = const { Reader { state: AtomicU64::new(0) } };
    static OWNER: Owner = const { Owner(std::cell::Cell::new(None)) };
}

// Loom keeps thread-locals in storage that may move as more are created,
// and destroys them all: the record is leaked so it stays put and alive.
#[cfg(loom)]
loom::thread_local! {
    static READER: &'static Reader = Box::leak(Box::new(Reader { state: AtomicU64::new(0) }));
    static OWNER: Owner = Owner(std::cell::Cell::new(None));
}

/// Takes this thread's record out of the list when the thread exits. It
/// holds the record's address itself: thread-locals are destroyed in no
/// particular order. (Under loom, whose globals may be gone when a model's
/// thread-locals are destroyed, records stay listed: they are leaked, and
/// an exited thread's record reads as idle.)
struct Owner(std::cell::Cell<Option<NonNull<Reader>>>);

#[cfg(not(loom))]
impl Drop for Owner {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        if let Some(reader) = self.0.take() {
            lock(&DOMAIN.get().readers).retain(|l| l.0 != reader);
            // SAFETY: the record outlives this thread-local (it has no
            // destructor, or is leaked under loom). Not in a call
            // (thread-locals are destroyed between calls): later calls on
            // this thread count in the shared counter.
            unsafe { reader.as_ref() }.state.store(0, Ordering::Relaxed);
        }
    }
}

/// One call through a slot, from entry to exit: while it lives, no chain
/// the call can have loaded is freed. It holds what the thread's record
/// held before the call, which the exit puts back: a store that does not
/// wait on reading the record again.
pub(crate) struct Entered(u64);

/// Enters a call (see the module documentation). `epoch` is the slot's copy
/// of the global epoch word: every value it holds is one the global word
/// held, stored after the change that produced it (see [`retire`]), so a
/// call that reads it sees that change's chain, and nothing newer is
/// announced than the call can see.
#[inline]
pub(crate) fn enter(epoch: &AtomicU64) -> Entered {
    READER.with(|reader| {
        let reader: &Reader = reader;
        let before = reader.state.load(Ordering::Relaxed);
        // The common case in one compare: attached, and in no slot call.
        if before & (ATTACHED | DEPTH_MASK) == ATTACHED {
            announce(reader, epoch);
        } else {
            return enter_other(reader, before, epoch);
        }
        Entered(before)
    })
}

/// A nested call, or the thread's first, or one without a record.
#[inline(never)]
fn enter_other(reader: &Reader, before: u64, epoch: &AtomicU64) -> Entered {
    if before & DEPTH_MASK != 0 {
        // Nested: the outer call's announcement covers every chain this
        // call can load (any of them is retired with a later tag).
        reader.state.store(before + 1, Ordering::Relaxed);
        Entered(before)
    } else {
        enter_slow(reader, epoch)
    }
}

/// First call on this thread (attaches its record), or a call while the
/// thread's thread-locals are being destroyed (counted in the shared
/// counter).
#[cold]
#[inline(never)]
fn enter_slow(reader: &Reader, epoch: &AtomicU64) -> Entered {
    let domain = DOMAIN.get();
    let record = NonNull::from(reader);
    if OWNER.try_with(|owner| owner.0.set(Some(record))).is_ok() {
        lock(&domain.readers).push(Listed(record));
        announce(reader, epoch);
        Entered(ATTACHED)
    } else {
        // A read-modify-write is a full fence: the writer sees the count,
        // or this call sees the new chain.
        domain.untracked.fetch_add(1, Ordering::SeqCst);
        Entered(0)
    }
}

/// The outermost call's announcement: the epoch, depth 1, then the
/// reader's side of the barrier (ordering only, when the writer's barrier
/// makes up for it).
#[inline]
fn announce(reader: &Reader, epoch: &AtomicU64) {
    let epoch = epoch.load(Ordering::Acquire);
    reader
        .state
        .store(epoch << EPOCH_SHIFT | ATTACHED | 1, Ordering::Relaxed);
    if epoch & FENCE == 0 {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        let before = self.0;
        if before & ATTACHED == 0 {
            DOMAIN.get().untracked.fetch_sub(1, Ordering::Release);
        } else {
            // Everything the call did with the chain happens before this.
            READER.with(|reader| {
                let reader: &Reader = reader;
                reader.state.store(before, Ordering::Release);
            });
        }
    }
}

/// The global epoch word, for a new slot's copy. Registers the process for
/// the asymmetric barrier first, so slots start with readers that need no
/// fence.
pub(crate) fn current_epoch() -> u64 {
    barrier::init();
    DOMAIN.get().epoch.load(Ordering::Acquire)
}

/// Advances the epoch after a slot replaced its chain, and updates the
/// slot's copy; returns the tag of the replaced chain.
pub(crate) fn retire(slot_epoch: &AtomicU64) -> u64 {
    let before = DOMAIN.get().epoch.fetch_add(STEP, Ordering::AcqRel);
    slot_epoch.fetch_max(before + STEP, Ordering::Release);
    before / STEP
}

/// The oldest tag that may not be freed yet: chains tagged below it may be
/// (0 when nothing may be freed now). A chain retired after this starts has
/// a tag at least the epoch read first, so it is never below the result.
#[allow(unsafe_code)]
pub(crate) fn oldest_in_use() -> u64 {
    let domain = DOMAIN.get();
    let now = domain.epoch.load(Ordering::Acquire) / STEP;
    if !heavy_barrier() {
        return 0;
    }
    if domain.untracked.load(Ordering::Acquire) > 0 {
        return 0;
    }
    let readers = lock(&domain.readers);
    readers
        .iter()
        // SAFETY: listed records are alive while they are listed, and the
        // list is locked (see `Listed`).
        .map(|l| unsafe { l.0.as_ref() }.state.load(Ordering::Acquire))
        .filter(|state| state & DEPTH_MASK != 0)
        .map(|state| (state >> EPOCH_SHIFT) / STEP)
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
                REGISTERED.store(true, Ordering::SeqCst);
                // From now on readers skip their fence: every barrier from
                // here on is a real one.
                super::DOMAIN
                    .get()
                    .epoch
                    .fetch_and(!super::FENCE, Ordering::SeqCst);
            }
        });
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
