#[instrument_once::instrument_once]
struct Repo {
    rows: Vec<u32>,
}

fn main() {}
