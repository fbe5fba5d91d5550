//! `crate = path` reaches a re-exported or renamed runtime crate.
#![deny(warnings, clippy::pedantic)]

mod facade {
    pub(crate) use instrument_once as io;
}

#[instrument_once::instrument_once(crate = facade::io)]
fn through_facade(x: u8) -> u8 {
    x
}

#[instrument_once::instrument_once(crate = self::facade::io)]
async fn through_facade_async(x: u8) -> u8 {
    x
}

pub(crate) fn main() {
    assert_eq!(through_facade(3), 3);
    assert_eq!(futures::executor::block_on(through_facade_async(4)), 4);
    assert!(facade::io::registry()
        .get(concat!(module_path!(), "::through_facade"))
        .is_some());
}
