#[instrument_once::instrument_once(level = "info", name = "a", level = "debug")]
fn load() {}

fn main() {}
