//! Once warm, a request allocates nothing: not its tally (reused from the
//! thread's or the process's pool), not its figures (the book's entries
//! exist), not its calls. Counted by a global allocator that counts this
//! thread's allocations. (A binary of its own: the allocator is global.)
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use instrument_once::{instrument_once, request};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed to `System` unchanged; the count is a
// thread-local `Cell` with a const initialiser (no allocation, no
// destructor), reached with `try_with` so a thread being torn down is fine.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: as above.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[instrument_once(repeats_by(id))]
fn lookup(id: &str) -> usize {
    id.len()
}

#[instrument_once]
fn render(n: usize) -> usize {
    n * 2
}

#[instrument_once(request)]
fn handler(id: &str) -> usize {
    let mut total = 0;
    for _ in 0..5 {
        total += lookup(id);
    }
    render(total)
}

#[test]
fn a_warm_request_allocates_nothing() {
    // The repeat warning's event would allocate (once a minute); this test
    // is about the requests themselves.
    request::set_repeat_warning(0);
    for _ in 0..10 {
        handler("auth0|1");
        request::scope("job", || render(1));
    }
    let before = allocations();
    for _ in 0..1_000 {
        handler("auth0|1");
        request::scope("job", || render(1));
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "allocations in 2,000 warm requests");
    // The requests were counted: the test is not vacuous.
    let report = request::report();
    let handler_name = concat!(module_path!(), "::handler");
    let lookups = report
        .get(handler_name, concat!(module_path!(), "::lookup"))
        .unwrap();
    assert_eq!(
        (lookups.requests, lookups.calls, lookups.repeats),
        (1_010, 5_050, 4_040)
    );
}
