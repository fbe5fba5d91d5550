#[instrument_once::instrument_once]
fn count(items: &[u8]) -> u32 {
    items.len()
}

#[instrument_once::instrument_once]
async fn fetch(id: u64) -> String {
    id
}

fn main() {}
