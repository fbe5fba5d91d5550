//! Many threads make the first call of many functions at the same moment:
//! each function is registered exactly once and every call is counted.
//! (Its own test binary, so nothing else touches the registry first.)
#![allow(missing_docs)]

use instrument_once_tests::together;
use std::collections::HashSet;

macro_rules! sites {
    ($($name:ident)*) => {
        $(
            #[instrument_once::instrument_once]
            fn $name() {}
        )*
        const ALL: &[fn()] = &[$($name),*];
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

sites!(f00 f01 f02 f03 f04 f05 f06 f07 f08 f09 f10 f11 f12 f13 f14 f15
       f16 f17 f18 f19 f20 f21 f22 f23 f24 f25 f26 f27 f28 f29 f30 f31);

#[test]
fn eight_threads_racing_the_first_call_register_each_site_once() {
    const THREADS: usize = 8;
    together(THREADS, |t| {
        // Each thread walks the functions from a different start, so first
        // calls collide in every order.
        for i in 0..ALL.len() {
            ALL[(i + t * 5) % ALL.len()]();
        }
    });
    let reg = instrument_once::registry();
    let sites = reg.sites();
    let distinct: HashSet<*const instrument_once::Site> =
        sites.iter().map(|s| std::ptr::from_ref(*s)).collect();
    assert_eq!(distinct.len(), sites.len(), "a site was registered twice");
    for name in NAMES {
        let qualified = format!("{}::{name}", module_path!());
        let all = reg.get_all(&qualified);
        assert_eq!(all.len(), 1, "{qualified}");
        assert_eq!(all[0].stats().calls, THREADS as u64, "{qualified}");
    }
}
