//! The global timing switch: a return while it is off is counted, and not
//! timed. The switch is global, so this file is a process of its own (one
//! test): no other test's latencies can go missing while it is off.
#![allow(missing_docs)]

use futures::FutureExt;
use instrument_once::{instrument_once, set_timing};
use instrument_once_tests::site;

#[instrument_once]
fn timed(x: u64) -> Result<u64, String> {
    if x % 2 == 0 {
        Ok(x)
    } else {
        Err(format!("odd {x}"))
    }
}

#[instrument_once]
async fn timed_async(x: u64) -> u64 {
    x
}

#[instrument_once(timing = false)]
fn untimed(x: u64) -> Result<u64, String> {
    timed(x)
}

#[instrument_once(timing = false)]
async fn untimed_async(x: u64) -> u64 {
    timed_async(x).await
}

fn call_each(x: u64) {
    let _ = untimed(x);
    assert_eq!(untimed_async(x).now_or_never(), Some(x));
}

#[test]
fn returns_while_the_switch_is_off_are_counted_and_not_timed() {
    // Three rounds on (x = 0, 1, 2), two off (3: `Err`, 4: `Ok`), one on
    // again (5).
    for x in 0..3 {
        call_each(x);
    }
    set_timing(false);
    for x in 3..5 {
        call_each(x);
    }
    set_timing(true);
    call_each(5);

    let t = site!(timed).stats();
    assert_eq!((t.calls, t.ok, t.errors, t.in_flight), (6, 3, 3, 0));
    assert_eq!(
        t.latency.count, 4,
        "the two returns while off are not timed"
    );
    let a = site!(timed_async).stats();
    assert_eq!((a.calls, a.ok, a.latency.count), (6, 6, 4));
    // A function without timing times nothing, on or off.
    let u = site!(untimed).stats();
    assert_eq!((u.calls, u.ok, u.errors, u.latency.count), (6, 3, 3, 0));
    let ua = site!(untimed_async).stats();
    assert_eq!((ua.calls, ua.ok, ua.latency.count), (6, 6, 0));
    assert_eq!(ua.latency.p50, std::time::Duration::ZERO);
}
