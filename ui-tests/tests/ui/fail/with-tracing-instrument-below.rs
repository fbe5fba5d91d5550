use instrument_once::instrument_once;

#[instrument_once]
#[tracing::instrument]
fn load(id: u64) -> u64 {
    id
}

fn main() {
    load(1);
}
