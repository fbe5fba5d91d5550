//! A crate that forbids unsafe code can use the attribute in every form:
//! the generated code, registration included, contains no `unsafe`.
#![forbid(unsafe_code)]
#![deny(warnings, clippy::pedantic)]

#[instrument_once::instrument_once]
fn sync_fn(x: u32) -> u32 {
    x
}

#[instrument_once::instrument_once(err)]
async fn async_fn(x: u32) -> Result<u32, String> {
    Ok(x)
}

#[derive(Debug)]
struct S;

#[instrument_once::instrument_once]
impl S {
    fn method(&self) -> u32 {
        1
    }
}

pub(crate) fn main() {
    assert_eq!(sync_fn(1), 1);
    assert_eq!(futures::executor::block_on(async_fn(2)), Ok(2));
    assert_eq!(S.method(), 1);
    let never_called_before =
        instrument_once::registry().get(concat!(module_path!(), "::S::method"));
    assert!(never_called_before.is_some());
}
