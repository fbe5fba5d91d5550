// `#[track_caller]` cannot reach into the closure that counting `Err`s needs.
#[track_caller]
#[instrument_once::instrument_once]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

#[track_caller]
#[instrument_once::instrument_once(ret)]
fn double(x: u32) -> u32 {
    x * 2
}

fn main() {}
