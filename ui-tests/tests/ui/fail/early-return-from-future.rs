use std::future::Future;
use std::pin::Pin;

// A future returned before the last expression would not be instrumented.
#[instrument_once::instrument_once]
fn fetch(fail: bool) -> Pin<Box<dyn Future<Output = Result<u32, String>> + Send>> {
    if fail {
        return Box::pin(async { Err("no".to_owned()) });
    }
    Box::pin(async move { Ok(1) })
}

fn main() {}
