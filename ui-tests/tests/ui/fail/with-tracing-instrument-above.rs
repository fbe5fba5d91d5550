use instrument_once::instrument_once;

#[tracing::instrument]
#[instrument_once]
fn load(id: u64) -> u64 {
    id
}

fn main() {
    load(1);
}
