#[instrument_once::instrument_once(level = "loud")]
fn load() {}

fn main() {}
