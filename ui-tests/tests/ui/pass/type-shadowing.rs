//! Generated code names nothing the user can shadow: here the user defines
//! `Result`, `Option`, `Ok`, `Err`, `None`, `Box`, `Span`, `From`, `Site`,
//! and a module named `tracing`.
#![deny(warnings, clippy::pedantic)]
#![allow(dead_code, non_camel_case_types, clippy::all)]

mod tracing {}

struct Span;
struct Site;
struct Box;
struct Option;
struct From;
struct Ok;
struct Err;
struct None;
type Result<T> = core::result::Result<T, Error>;

#[derive(Debug)]
struct Error(instrument_once::DepthExceeded);

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

impl core::convert::From<instrument_once::DepthExceeded> for Error {
    fn from(e: instrument_once::DepthExceeded) -> Self {
        Error(e)
    }
}

#[instrument_once::instrument_once(err, ret, max_depth = 4, on_overflow = "error")]
fn parse(s: &str) -> Result<u32> {
    if s.is_empty() {
        return core::result::Result::Ok(0);
    }
    core::result::Result::Ok(parse(&s[1..])? + 1)
}

#[instrument_once::instrument_once(err)]
async fn fetch(n: u32) -> Result<u32> {
    core::result::Result::Ok(n)
}

pub(crate) fn main() {
    assert_eq!(parse("ab").unwrap(), 2);
    assert!(parse("abcdefgh").is_err());
    let _ = fetch(1);
}
