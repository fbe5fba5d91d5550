#[instrument_once::instrument_once]
const fn answer() -> u32 {
    42
}

fn main() {}
