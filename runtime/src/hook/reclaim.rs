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
//! * Every thread that calls through a slot has a [`Reader`] record: one
//!   word, `epoch << DEPTH_BITS | depth`. Entering its outermost slot call, a
//!   thread stores the global epoch there with depth 1; a nested call only
//!   raises the depth; leaving puts back what it found (a release store).
//!   Only the owning thread writes its record: plain stores, no
//!   read-modify-write.
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

use std::cell::Cell;

use crate::sync::{compiler_fence, fence, global, lock, AtomicU64, AtomicUsize, Mutex, Ordering};

/// Low bits of a record: how deeply the thread is nested in slot calls.
const DEPTH_BITS: u32 = 16;
const DEPTH_MASK: u64 = (1 << DEPTH_BITS) - 1;

/// One thread's announcement (see the module documentation). Aligned to its
/// own cache lines: only its thread writes it.
#[repr(align(128))]
pub(crate) struct Reader {
    state: AtomicU64,
}

/// Every record, and those whose thread exited.
struct Readers {
    all: Vec<&'static Reader>,
    free: Vec<&'static Reader>,
}

/// The global state of the protocol.
pub(crate) struct Domain {
    epoch: AtomicU64,
    readers: Mutex<Readers>,
    /// Calls in progress on threads without a record.
    untracked: AtomicUsize,
}

global! {
    /// The one domain of the process.
    DOMAIN: Domain = Domain {
        epoch: AtomicU64::new(1),
        readers: Mutex::new(Readers {
            all: Vec::new(),
            free: Vec::new(),
        }),
        untracked: AtomicUsize::new(0),
    };
}

#[cfg(not(loom))]
std::thread_local! {
    /// This thread's record, once attached. No destructor, so reaching it
    /// is a plain thread-local access: [`OWNER`] gives it back at exit.
    static MINE: Cell<Option<&'static Reader>> = const { Cell::new(None) };
    static OWNER: Owner = const { Owner };
}

#[cfg(loom)]
loom::thread_local! {
    static MINE: Cell<Option<&'static Reader>> = Cell::new(None);
    static OWNER: Owner = Owner;
}

/// Gives this thread's record back when the thread exits.
struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        if let Ok(Some(reader)) = MINE.try_with(Cell::take) {
            lock(&DOMAIN.get().readers).free.push(reader);
        }
    }
}

/// One call through a slot, from entry to exit: while it lives, no chain
/// the call can have loaded is freed.
pub(crate) struct Entered {
    /// This thread's record and what it held before the call; `None` for a
    /// call counted in the shared counter.
    reader: Option<(&'static Reader, u64)>,
}

/// Enters a call (see the module documentation).
#[inline]
pub(crate) fn enter() -> Entered {
    match MINE.try_with(Cell::get) {
        Ok(Some(reader)) => {
            let before = reader.state.load(Ordering::Relaxed);
            let now = if before & DEPTH_MASK == 0 {
                DOMAIN.get().epoch.load(Ordering::Acquire) << DEPTH_BITS | 1
            } else {
                before + 1
            };
            reader.state.store(now, Ordering::Relaxed);
            light_barrier();
            Entered {
                reader: Some((reader, before)),
            }
        }
        _ => enter_slow(),
    }
}

/// First call on this thread (attaches a record), or a call while the
/// thread's thread-locals are being destroyed (counted in the shared
/// counter).
#[cold]
#[inline(never)]
fn enter_slow() -> Entered {
    if let Some(reader) = attach() {
        return enter_attached(reader);
    }
    // A read-modify-write is a full fence: the writer sees the count, or
    // this call sees the new chain.
    DOMAIN.get().untracked.fetch_add(1, Ordering::SeqCst);
    Entered { reader: None }
}

fn enter_attached(reader: &'static Reader) -> Entered {
    let before = reader.state.load(Ordering::Relaxed);
    debug_assert_eq!(before & DEPTH_MASK, 0, "a new record is not in a call");
    reader.state.store(
        DOMAIN.get().epoch.load(Ordering::Acquire) << DEPTH_BITS | 1,
        Ordering::Relaxed,
    );
    light_barrier();
    Entered {
        reader: Some((reader, before)),
    }
}

/// This thread's record: a free one or a new one. `None` once the thread's
/// thread-locals are being destroyed.
fn attach() -> Option<&'static Reader> {
    OWNER.try_with(|_| ()).ok()?;
    let reader = {
        let mut readers = lock(&DOMAIN.get().readers);
        if let Some(reader) = readers.free.pop() {
            reader
        } else {
            let reader: &'static Reader = Box::leak(Box::new(Reader {
                state: AtomicU64::new(0),
            }));
            readers.all.push(reader);
            reader
        }
    };
    MINE.try_with(|mine| mine.set(Some(reader))).ok()?;
    Some(reader)
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        match self.reader {
            // Everything the call did with the chain happens before this.
            Some((reader, before)) => reader.state.store(before, Ordering::Release),
            None => {
                DOMAIN.get().untracked.fetch_sub(1, Ordering::Release);
            }
        }
    }
}

/// Advances the epoch after a chain was replaced; returns the tag of the
/// replaced chain.
pub(crate) fn retire_epoch() -> u64 {
    DOMAIN.get().epoch.fetch_add(1, Ordering::AcqRel)
}

/// The oldest tag that may not be freed yet: chains tagged below it may be
/// (0 when nothing may be freed now). A chain retired after this starts has
/// a tag at least the epoch read first, so it is never below the result.
pub(crate) fn oldest_in_use() -> u64 {
    let domain = DOMAIN.get();
    let now = domain.epoch.load(Ordering::Acquire);
    if !heavy_barrier() {
        return 0;
    }
    if domain.untracked.load(Ordering::Acquire) > 0 {
        return 0;
    }
    let readers = lock(&domain.readers);
    readers
        .all
        .iter()
        .map(|r| r.state.load(Ordering::Acquire))
        .filter(|state| state & DEPTH_MASK != 0)
        .map(|state| state >> DEPTH_BITS)
        .fold(now, u64::min)
}

/// The reader's side of the barrier: ordering only, when the writer's
/// barrier makes up for it.
#[inline]
fn light_barrier() {
    if barrier::asymmetric() {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
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
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Once;

    use rustix::thread::{membarrier, membarrier_query, MembarrierCommand, MembarrierQuery};

    /// 1 once the process is registered for private expedited barriers.
    static AVAILABLE: AtomicU8 = AtomicU8::new(0);

    /// Whether readers may rely on the writer's barrier.
    #[inline]
    pub(super) fn asymmetric() -> bool {
        AVAILABLE.load(Ordering::Relaxed) == 1
    }

    pub(super) use super::Heavy;

    /// Runs the heavy barrier, registering the process at the first use.
    pub(super) fn heavy() -> Heavy {
        static REGISTER: Once = Once::new();
        REGISTER.call_once(|| {
            let supported = membarrier_query().contains(MembarrierQuery::PRIVATE_EXPEDITED)
                && membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok();
            if supported {
                // From now on readers skip their fence: every barrier from
                // here on is a real one.
                AVAILABLE.store(1, Ordering::SeqCst);
            }
        });
        if !asymmetric() {
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

    #[inline]
    pub(super) fn asymmetric() -> bool {
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
