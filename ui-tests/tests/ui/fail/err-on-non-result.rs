#[instrument_once::instrument_once(err)]
fn count(items: &[u8]) -> usize {
    items.len()
}

fn main() {}
