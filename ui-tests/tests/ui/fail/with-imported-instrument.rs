use instrument_once::instrument_once;
use tracing::instrument;

#[instrument_once]
#[instrument(level = "debug")]
fn load(id: u64) -> u64 {
    id
}

fn main() {
    load(1);
}
