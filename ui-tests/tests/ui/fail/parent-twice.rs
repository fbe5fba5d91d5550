#[instrument_once::instrument_once(parent = None, parent = None)]
fn load() {}

fn main() {}
