//! The user's lints see the function as written: an unused instrumented
//! function is `dead_code` (so `#[expect(dead_code)]` is fulfilled), sync,
//! async and in an impl block alike.
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

fn main() {
    assert_eq!(Repo.used(), 1);
}
