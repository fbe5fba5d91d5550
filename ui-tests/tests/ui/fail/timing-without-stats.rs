#[instrument_once::instrument_once(stats = false, timing = true)]
fn walk() {}

fn main() {}
