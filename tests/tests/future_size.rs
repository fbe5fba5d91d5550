//! An instrumented async function's future is at most 16 bytes larger
//! than the same function's under `tracing::instrument`, whatever its body
//! holds across its awaits.
//!
//! The attribute's async code differs with debug assertions (one wrapper
//! type with an optional span) and without (a wrapper type for a call with
//! a span and one for a call without, awaited apart): CI runs this file in
//! both builds. A binding of the generated code left alive across the
//! await fails it in either: a draft that kept the call guard and the
//! optional span beside the wrapped body measured up to 64 bytes over
//! tracing's.
#![allow(missing_docs)]

use instrument_once_tests::yield_now;

/// The allowance over `tracing::instrument`'s future.
const ALLOWANCE: usize = 16;

macro_rules! pair {
    ($tracing:ident, $ours:ident, $($options:tt)*) => {
        pair!(@ $tracing, [tracing::instrument], $ours, [instrument_once::instrument_once($($options)*)]);
    };
    (@ $tracing:ident, [$($t:tt)*], $ours:ident, [$($o:tt)*]) => {
        mod $tracing {
            use super::yield_now;

            #[$($t)*]
            pub(crate) async fn empty() {}

            #[$($t)*]
            pub(crate) async fn one_await(x: u64) -> u64 {
                yield_now().await;
                x + 1
            }

            #[$($t)*]
            pub(crate) async fn holds_a_string(name: String) -> usize {
                let greeting = format!("hello {name}");
                yield_now().await;
                greeting.len()
            }

            #[$($t)*]
            pub(crate) async fn holds_a_buffer(seed: u8) -> Result<u8, String> {
                let buffer = [seed; 256];
                yield_now().await;
                buffer.iter().copied().max().ok_or_else(|| "empty".to_owned())
            }

            #[$($t)*]
            pub(crate) async fn nested(x: u64) -> u64 {
                one_await(x).await + one_await(x + 1).await
            }
        }
        mod $ours {
            use super::yield_now;

            #[$($o)*]
            pub(crate) async fn empty() {}

            #[$($o)*]
            pub(crate) async fn one_await(x: u64) -> u64 {
                yield_now().await;
                x + 1
            }

            #[$($o)*]
            pub(crate) async fn holds_a_string(name: String) -> usize {
                let greeting = format!("hello {name}");
                yield_now().await;
                greeting.len()
            }

            #[$($o)*]
            pub(crate) async fn holds_a_buffer(seed: u8) -> Result<u8, String> {
                let buffer = [seed; 256];
                yield_now().await;
                buffer.iter().copied().max().ok_or_else(|| "empty".to_owned())
            }

            #[$($o)*]
            pub(crate) async fn nested(x: u64) -> u64 {
                one_await(x).await + one_await(x + 1).await
            }
        }
    };
}

pair!(theirs, ours_default,);
pair!(theirs_again, ours_spans_only, stats = false);
pair!(theirs_once_more, ours_guarded, max_depth = 8);

fn sizes<F>(tracing: &F, ours: &[(&str, usize)]) -> Vec<String>
where
    F: ?Sized,
{
    let limit = std::mem::size_of_val(tracing) + ALLOWANCE;
    ours.iter()
        .filter(|(_, size)| *size > limit)
        .map(|(options, size)| {
            format!(
                "{options}: {size} bytes, tracing's {} + {ALLOWANCE} allowed",
                limit - ALLOWANCE
            )
        })
        .collect()
}

macro_rules! check {
    ($failures:ident, $name:ident ($($arg:expr),*)) => {
        let ours = [
            ("default", std::mem::size_of_val(&ours_default::$name($($arg),*))),
            ("stats = false", std::mem::size_of_val(&ours_spans_only::$name($($arg),*))),
            ("max_depth = 8", std::mem::size_of_val(&ours_guarded::$name($($arg),*))),
        ];
        for failure in sizes(&theirs::$name($($arg),*), &ours) {
            $failures.push(format!("{}: {failure}", stringify!($name)));
        }
        // The other expansions of tracing's are the same functions.
        assert_eq!(
            std::mem::size_of_val(&theirs::$name($($arg),*)),
            std::mem::size_of_val(&theirs_again::$name($($arg),*))
        );
        assert_eq!(
            std::mem::size_of_val(&theirs::$name($($arg),*)),
            std::mem::size_of_val(&theirs_once_more::$name($($arg),*))
        );
    };
}

#[test]
fn futures_are_at_most_16_bytes_larger_than_tracings() {
    let mut failures = Vec::new();
    check!(failures, empty());
    check!(failures, one_await(1));
    check!(failures, holds_a_string(String::new()));
    check!(failures, holds_a_buffer(7));
    check!(failures, nested(1));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The check itself: a future that holds more than the allowance fails it.
#[test]
fn a_larger_future_fails_the_check() {
    let tracing = theirs::empty();
    let larger = std::mem::size_of_val(&tracing) + ALLOWANCE + 1;
    assert_eq!(sizes(&tracing, &[("bloated", larger)]).len(), 1);
    assert!(sizes(&tracing, &[("same", larger - 1)]).is_empty());
}
