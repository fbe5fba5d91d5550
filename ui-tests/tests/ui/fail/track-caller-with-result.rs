// `#[track_caller]` cannot reach into the closure that seeing the value of
// a body that can leave early (`?`, `return`) needs.
#[track_caller]
#[instrument_once::instrument_once]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.trim().parse()?;
    Ok(n + 1)
}

#[track_caller]
#[instrument_once::instrument_once(ret)]
fn double(x: u32) -> u32 {
    if x == 0 {
        return 0;
    }
    x * 2
}

fn main() {}
