//! Property: whatever mix of nested calls, `?` early returns, caught panics,
//! futures polled k times then dropped, futures dropped unpolled and
//! completed futures runs, afterwards every depth and every in-flight count
//! is zero, on this thread and on the other thread that polled.
//!
//! Case count: `PROPTEST_CASES` (`.ci/run` runs 10 000 in release); 256 by
//! default.
#![allow(missing_docs)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use futures::FutureExt;
use instrument_once::{current_chain, instrument_once, Site};
use instrument_once_tests::{site, yield_now};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum End {
    Ok,
    Err,
    Panic,
}

/// Recurses `n` levels, then ends as told. Checks its own depth on the way.
#[instrument_once]
fn sync_op(n: u32, level: usize, end: End) -> Result<u32, String> {
    assert_eq!(depth(site!(sync_op)), level, "sync depth");
    if n == 0 {
        return match end {
            End::Ok => Ok(0),
            End::Err => Err("bottom".to_owned()),
            End::Panic => panic!("planned panic"),
        };
    }
    let below = sync_op(n - 1, level + 1, end)?;
    Ok(below + 1)
}

#[instrument_once]
async fn async_op(n: u32, level: usize, yields: u32) -> u32 {
    assert_eq!(depth(site!(async_op)), level, "async depth");
    if n == 0 {
        for _ in 0..yields {
            yield_now().await;
        }
        0
    } else {
        Box::pin(async_op(n - 1, level + 1, yields)).await + 1
    }
}

fn depth(site: &Site) -> usize {
    current_chain()
        .iter()
        .filter(|s| std::ptr::eq(**s, site))
        .count()
}

#[derive(Clone, Debug)]
enum Step {
    Sync {
        n: u32,
        end: End,
    },
    PollThenDrop {
        n: u32,
        polls: u32,
    },
    DropUnpolled {
        n: u32,
    },
    Complete {
        n: u32,
        yields: u32,
        elsewhere: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let end = prop_oneof![Just(End::Ok), Just(End::Err), Just(End::Panic)];
    prop_oneof![
        (0..12u32, end).prop_map(|(n, end)| Step::Sync { n, end }),
        (0..6u32, 0..4u32).prop_map(|(n, polls)| Step::PollThenDrop { n, polls }),
        (0..6u32).prop_map(|n| Step::DropUnpolled { n }),
        (0..6u32, 0..3u32, any::<bool>()).prop_map(|(n, yields, elsewhere)| Step::Complete {
            n,
            yields,
            elsewhere
        }),
    ]
}

fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> bool {
    let waker = futures::task::noop_waker();
    f.poll_unpin(&mut std::task::Context::from_waker(&waker))
        .is_ready()
}

fn run(step: &Step) {
    match *step {
        Step::Sync { n, end } => {
            let r = catch_unwind(AssertUnwindSafe(|| sync_op(n, 1, end)));
            match end {
                End::Ok => assert_eq!(r.unwrap().unwrap(), n),
                End::Err => assert!(r.unwrap().is_err()),
                End::Panic => assert!(r.is_err()),
            }
        }
        Step::PollThenDrop { n, polls } => {
            let mut fut = Box::pin(async_op(n, 1, polls + 1));
            for _ in 0..polls {
                assert!(!poll_once(&mut fut));
            }
            drop(fut);
        }
        Step::DropUnpolled { n } => drop(async_op(n, 1, 1)),
        Step::Complete {
            n,
            yields,
            elsewhere,
        } => {
            let mut fut = Box::pin(async_op(n, 1, yields));
            if !elsewhere {
                assert_eq!(futures::executor::block_on(fut), n);
            } else if !poll_once(&mut fut) {
                // First poll here, the rest on another thread.
                let chain = std::thread::spawn(move || {
                    assert_eq!(futures::executor::block_on(fut), n);
                    current_chain().len()
                })
                .join()
                .unwrap();
                assert_eq!(chain, 0, "other thread left depth behind");
            }
        }
    }
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"planned panic") {
                default(info);
            }
        }));
    });
}

proptest! {
    #[test]
    fn every_guard_balances(steps in proptest::collection::vec(step(), 1..12)) {
        quiet_panics();
        for s in &steps {
            run(s);
            prop_assert!(current_chain().is_empty(), "after {:?}", s);
        }
        prop_assert_eq!(site!(sync_op).stats().in_flight, 0);
        prop_assert_eq!(site!(async_op).stats().in_flight, 0);
    }
}
