#[instrument_once::instrument_once(on_overflow = "panic")]
fn walk(n: u32) -> u32 {
    if n > 0 { walk(n - 1) + 1 } else { 0 }
}

fn main() {}
