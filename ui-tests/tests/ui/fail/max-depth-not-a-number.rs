#[instrument_once::instrument_once(max_depth = "x")]
fn walk(n: u32) {
    if n > 0 {
        walk(n - 1);
    }
}

fn main() {}
