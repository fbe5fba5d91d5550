// The guard that ends a `request` function's request is hygienic: the body
// cannot name it, so it cannot move it to another thread or forget it.
#[instrument_once::instrument_once(request)]
fn handler() {
    std::mem::forget(__io_request);
}

fn main() {
    handler();
}
