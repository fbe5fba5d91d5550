#[instrument_once::instrument_once(level = "info", colour = "red")]
fn load() {}

fn main() {}
