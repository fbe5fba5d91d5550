struct Opaque;

#[instrument_once::instrument_once]
fn load(id: u64, conn: &Opaque) -> u64 {
    let _ = conn;
    id
}

fn main() {}
