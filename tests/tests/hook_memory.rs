//! A hook slot re-wrapped a million times while four threads call through
//! it keeps its memory and releases what removed layers captured. Alone in
//! its test binary: it measures the process's resident memory.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use instrument_once::hook::HookSlot;

/// Resident memory of this process, in bytes (Linux: `/proc/self/statm`).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// One million wrap/unwrap cycles (20,000 in a debug build) on a slot that
/// four threads call through all along: resident memory grows by less than
/// 4 MiB, and the `Arc` every removed layer captured is back to one strong
/// reference at the end.
#[test]
fn a_million_rewraps_keep_memory_bounded_and_release_captures() {
    // A debug build (the README's test command) runs a smoke-sized test;
    // `.ci/run` runs the full million in release.
    let cycles: u64 = if cfg!(debug_assertions) {
        20_000
    } else {
        1_000_000
    };
    let slot = Arc::new(HookSlot::new("lifecycle::rewrap", |x: u64| x + 1));
    let captured = Arc::new(vec![0u8; 64]);
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(5));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (slot, stop, barrier) =
                (Arc::clone(&slot), Arc::clone(&stop), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let r = slot.call(1);
                    assert!(r == 2 || r == 3, "{r}");
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let rewrap = |slot: &HookSlot<u64, u64>| {
        let held = Arc::clone(&captured);
        slot.wrap_once("reload", move |inner| {
            let held = Arc::clone(&held);
            Arc::new(move |x| inner(x) + u64::from(held.len() == 64))
        });
        slot.unwrap("reload").unwrap();
    };
    barrier.wait();
    // Warm up (allocator pools, the callers' records), then measure.
    for _ in 0..1_000 {
        rewrap(&slot);
    }
    let before = resident_bytes();
    for _ in 0..cycles {
        rewrap(&slot);
    }
    let after = resident_bytes();
    stop.store(true, Ordering::Relaxed);
    let calls: u64 = callers.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(calls > 0);
    // No call is in flight any more: everything retired can go.
    assert_eq!(slot.reclaim(), 0);
    assert_eq!(
        Arc::strong_count(&captured),
        1,
        "a removed layer's capture leaked"
    );
    if let (Some(before), Some(after)) = (before, after) {
        let grown = after.saturating_sub(before);
        assert!(
            grown < 4 << 20,
            "resident memory grew by {grown} bytes over {cycles} cycles"
        );
    }
}
