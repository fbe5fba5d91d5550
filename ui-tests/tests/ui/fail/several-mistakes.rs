#[instrument_once::instrument_once(colour = "red", level = "info", level = "warn", max_depth = 0)]
fn load() {}

fn main() {}
