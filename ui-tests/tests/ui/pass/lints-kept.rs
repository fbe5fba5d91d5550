//! The user's lints see the function as written: an unused instrumented
//! function is `dead_code` (so `#[expect(dead_code)]` is fulfilled), sync,
//! async and in an impl block alike; a skipped parameter the body does not
//! use is `unused_variables`, and a `mut` the body does not need is
//! `unused_mut`, whether the body runs inline, in a closure or async.
#![deny(unfulfilled_lint_expectations, warnings)]

#[expect(dead_code)]
#[instrument_once::instrument_once]
fn unused() {}

#[expect(dead_code)]
#[instrument_once::instrument_once]
fn unused_returning_result() -> Result<u32, String> {
    Ok(1)
}

#[expect(dead_code)]
#[instrument_once::instrument_once]
async fn unused_async() {}

#[derive(Debug)]
struct Repo;

#[instrument_once::instrument_once]
impl Repo {
    #[expect(dead_code)]
    fn unused_method(&self) {}

    fn used(&self) -> u32 {
        1
    }
}

#[expect(unused_variables)]
#[instrument_once::instrument_once(skip(x))]
fn skipped_and_unused(x: u32, s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n)
}

#[expect(unused_mut)]
#[instrument_once::instrument_once]
fn needless_mut(mut x: u32, s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n + x)
}

#[expect(unused_mut)]
#[instrument_once::instrument_once]
fn needless_mut_inline(mut x: u32) -> u32 {
    x + 1
}

#[expect(unused_mut)]
#[instrument_once::instrument_once]
async fn needless_mut_async(mut x: u32) -> u32 {
    x + 1
}

#[expect(unused_variables)]
#[instrument_once::instrument_once(skip(x))]
async fn skipped_and_unused_async(x: u32) -> u32 {
    1
}

fn main() {
    assert_eq!(Repo.used(), 1);
    assert_eq!(skipped_and_unused(1, "2"), Ok(2));
    assert_eq!(needless_mut(1, "2"), Ok(3));
    assert_eq!(needless_mut_inline(1), 2);
    assert_eq!(futures::executor::block_on(needless_mut_async(1)), 2);
    assert_eq!(futures::executor::block_on(skipped_and_unused_async(1)), 1);
}
