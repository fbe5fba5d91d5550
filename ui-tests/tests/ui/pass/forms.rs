//! Every supported form of function compiles, and calls still work.
#![deny(warnings, clippy::pedantic)]

use instrument_once::instrument_once;
use std::fmt::Debug;
use std::pin::Pin;

/// Doc comments and other attributes are preserved.
#[instrument_once]
#[inline]
#[must_use]
pub fn free(x: u32) -> u32 {
    x + 1
}

#[instrument_once]
fn generic<'a, T: Debug + Clone, U>(items: &'a [T], extra: U) -> Option<&'a T>
where
    U: Into<u64> + Debug,
{
    let _ = extra.into();
    items.first()
}

#[instrument_once]
fn impl_trait(it: impl Iterator<Item = u32> + Debug) -> impl Iterator<Item = u32> {
    it.map(|x| x * 2)
}

#[instrument_once]
unsafe fn raw(p: *const u8) -> u8 {
    *p
}

#[instrument_once]
extern "C" fn c_abi(x: i32) -> i32 {
    x - 1
}

#[instrument_once(err)]
fn early(s: &str) -> Result<u32, std::num::ParseIntError> {
    if s.is_empty() {
        return Ok(0);
    }
    let n: u32 = s.trim().parse()?;
    Ok(n)
}

#[derive(Debug)]
struct Point {
    x: i32,
    y: i32,
}

#[instrument_once]
fn destructured(Point { x, y }: Point, (a, b): (u8, u8), [c, _]: [u8; 2]) -> i32 {
    x + y + i32::from(a) + i32::from(b) + i32::from(c)
}

#[instrument_once]
fn first_mut(v: &mut Vec<u8>) -> &mut u8 {
    &mut v[0]
}

#[derive(Debug, Default)]
struct Thing(u32);

impl Thing {
    #[instrument_once]
    fn by_value(self) -> u32 {
        self.0
    }
    #[instrument_once]
    fn by_ref(&self) -> u32 {
        self.0
    }
    #[instrument_once]
    fn by_mut(&mut self) -> &mut u32 {
        &mut self.0
    }
    #[instrument_once]
    fn boxed(self: Box<Self>) -> u32 {
        self.0
    }
    #[instrument_once]
    fn pinned(self: Pin<&mut Self>) -> u32 {
        self.0
    }
    #[instrument_once]
    async fn async_method(&self, k: u32) -> u32 {
        self.0 + k
    }
    #[instrument_once(ret)]
    async fn async_borrowed(&self, name: &'static str) -> &str {
        if self.0 > 100 {
            "big"
        } else {
            name
        }
    }
    #[instrument_once(err)]
    async fn async_impl_trait(&self) -> Result<impl Iterator<Item = u32>, String> {
        Ok(0..self.0)
    }
}

trait Store {
    fn get(&self, k: u32) -> u32;
    fn put(&mut self, k: u32) -> Result<(), String>;
    async fn fetch(&self, k: u32) -> u32;
    fn boxed_fut(
        &self,
        k: u32,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<u32, String>> + Send + '_>>;
}

impl Store for Thing {
    #[instrument_once]
    fn get(&self, k: u32) -> u32 {
        self.0 + k
    }
    #[instrument_once(err)]
    fn put(&mut self, k: u32) -> Result<(), String> {
        self.0 = k;
        Ok(())
    }
    #[instrument_once]
    async fn fetch(&self, k: u32) -> u32 {
        self.0 + k
    }
    #[instrument_once(err, ret)]
    fn boxed_fut(
        &self,
        k: u32,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<u32, String>> + Send + '_>> {
        Box::pin(async move {
            if k == 0 {
                return Err("zero".to_owned());
            }
            Ok(self.0 + k)
        })
    }
}

#[derive(Debug)]
struct Repo {
    rows: Vec<u32>,
}

#[instrument_once(level = "debug")]
impl Repo {
    const LIMIT: usize = 10;

    const fn capacity() -> usize {
        Self::LIMIT
    }

    fn get(&self, i: usize) -> Option<u32> {
        self.rows.get(i).copied()
    }

    #[instrument_once(level = "trace", skip(self))]
    fn hot(&self) -> usize {
        self.rows.len()
    }

    async fn load(&mut self, v: u32) -> usize {
        self.rows.push(v);
        self.rows.len()
    }
}

#[instrument_once]
async fn free_async(x: u32) -> u32 {
    x + 1
}

#[instrument_once(max_depth = 8, on_overflow = "error")]
fn guarded(n: u32) -> Result<u32, instrument_once::DepthExceeded> {
    if n == 0 {
        Ok(0)
    } else {
        Ok(guarded(n - 1)? + 1)
    }
}

#[instrument_once(recursion = "outermost", timing = false)]
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[instrument_once(stats = false)]
fn spans_only() {}

const SPAN_NAME: &str = "from_a_constant";
const FIELD_NAME: &str = "field_from_a_constant";

/// tracing's forms: a positional name, a level path, declared-but-empty
/// fields recorded later, braced field names, `%`/`?` shorthands.
#[instrument_once("positional", level = tracing::Level::DEBUG, fields(later, {FIELD_NAME} = 1, %shown, debugged = ?x))]
fn tracing_forms(x: u32, shown: &str) -> u32 {
    tracing::Span::current().record("later", x);
    x + u32::try_from(shown.len()).unwrap_or(0)
}

#[instrument_once(name = SPAN_NAME, target = SPAN_NAME)]
fn constant_name_and_target(
    mut acc: Vec<u32>,
    (first, mut second): (u32, u32),
) -> Result<Vec<u32>, String> {
    second += 1;
    acc.push(first + second);
    Ok(acc)
}

#[track_caller]
#[instrument_once]
fn located() -> u32 {
    std::panic::Location::caller().line()
}

/// A function that never returns (`tracing::instrument` does not accept
/// `-> !`: its expansion writes `!` as a `let`'s type).
#[instrument_once(max_depth = 8)]
fn never_returns(countdown: u32) -> ! {
    assert!(countdown > 0, "done");
    never_returns(countdown - 1)
}

pub(crate) fn main() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    assert!(std::panic::catch_unwind(|| never_returns(3)).is_err());
    std::panic::set_hook(hook);
    assert_eq!(free(1), 2);
    assert_eq!(generic(&[1, 2], 3u8), Some(&1));
    assert_eq!(
        impl_trait([1, 2].into_iter().collect::<Vec<_>>().into_iter()).sum::<u32>(),
        6
    );
    assert_eq!(unsafe { raw(&7) }, 7);
    assert_eq!(c_abi(1), 0);
    assert_eq!(early(" 4 ").unwrap(), 4);
    assert_eq!(destructured(Point { x: 1, y: 2 }, (3, 4), [5, 6]), 15);
    let mut v = vec![1];
    *first_mut(&mut v) = 9;
    assert_eq!(v, [9]);
    let mut t = Thing(1);
    *t.by_mut() += 1;
    assert_eq!(t.by_ref(), 2);
    assert_eq!(Pin::new(&mut t).pinned(), 2);
    assert_eq!(Box::new(Thing(3)).boxed(), 3);
    assert_eq!(t.get(1), 3);
    t.put(5).unwrap();
    assert_eq!(futures::executor::block_on(t.fetch(1)), 6);
    assert_eq!(futures::executor::block_on(t.async_method(1)), 6);
    assert_eq!(
        futures::executor::block_on(t.async_borrowed("small")),
        "small"
    );
    assert_eq!(
        futures::executor::block_on(t.async_impl_trait()).map(Iterator::count),
        Ok(5)
    );
    assert_eq!(futures::executor::block_on(t.boxed_fut(1)), Ok(6));
    assert_eq!(t.by_value(), 5);
    let mut repo = Repo { rows: vec![1] };
    assert_eq!(Repo::capacity(), 10);
    assert_eq!(repo.get(0), Some(1));
    assert_eq!(repo.hot(), 1);
    assert_eq!(futures::executor::block_on(repo.load(2)), 2);
    assert_eq!(futures::executor::block_on(free_async(1)), 2);
    assert_eq!(guarded(3).unwrap(), 3);
    assert!(guarded(20).is_err());
    assert_eq!(fib(10), 55);
    spans_only();
    assert_eq!(tracing_forms(1, "ab"), 3);
    assert_eq!(constant_name_and_target(vec![], (1, 1)), Ok(vec![3]));
    assert_eq!(located(), line!());
    let names: Vec<&str> = instrument_once::registry()
        .sites()
        .iter()
        .map(|s| s.qualified_name())
        .collect();
    assert!(
        names.contains(&concat!(module_path!(), "::Repo::hot")),
        "{names:?}"
    );
    assert!(
        names.contains(&concat!(module_path!(), "::Repo::load")),
        "{names:?}"
    );
    assert!(
        !names.contains(&concat!(module_path!(), "::Repo::capacity")),
        "const fns are left alone: {names:?}"
    );
}
