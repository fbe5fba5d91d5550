//! A call past `max_depth`: the error that names the chain of functions
//! that led there, and the chain itself ([`current_chain`]).

use std::fmt;

use crate::depth::recorded_chain;
use crate::site::Site;

/// The error for a call of `site` that would exceed `max_depth` on this
/// thread's chain.
#[cold]
#[inline(never)]
pub(crate) fn exceeded(site: &'static Site, max_depth: u32) -> DepthExceeded {
    let (head, tail, total) = resolved_chain();
    DepthExceeded::new(site, max_depth, &head, &tail, total)
}

/// This thread's recorded chain, by site: its outermost calls, its
/// innermost calls (when some in between were not recorded), and the
/// number of active calls.
fn resolved_chain() -> (Vec<&'static Site>, Vec<&'static Site>, u32) {
    let recorded = recorded_chain();
    let sites = crate::registry::sites_by_index();
    let site = |i: &u32| sites.get(*i as usize).copied();
    (
        recorded.outermost.iter().filter_map(site).collect(),
        recorded.innermost.iter().filter_map(site).collect(),
        recorded.len,
    )
}

/// The instrumented calls active on this thread, outermost first (for async
/// functions: the futures being polled right now). A chain deeper than 144
/// calls is returned without its middle: the 16 outermost and the 128
/// innermost calls.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn outer() -> Vec<&'static str> { inner() }
/// #[instrument_once::instrument_once]
/// fn inner() -> Vec<&'static str> {
///     instrument_once::current_chain().iter().map(|s| s.name()).collect()
/// }
/// # fn main() {
/// assert_eq!(outer(), ["outer", "inner"]);
/// assert!(instrument_once::current_chain().is_empty());
/// # }
/// ```
pub fn current_chain() -> Vec<&'static Site> {
    let (mut head, tail, _) = resolved_chain();
    head.extend(tail);
    head
}

/// A function was entered more often on one call chain than its `max_depth`
/// allows.
///
/// Returned as `Err(e.into())` by functions annotated with
/// `on_overflow = "error"` (their error type implements
/// `From<DepthExceeded>`); its `Display` is also the message of the panic
/// raised by `on_overflow = "panic"` (the default).
///
/// ```
/// use instrument_once::{instrument_once, DepthExceeded};
///
/// #[derive(Debug)]
/// enum ParseError { TooDeep(DepthExceeded) }
/// impl From<DepthExceeded> for ParseError {
///     fn from(e: DepthExceeded) -> Self { ParseError::TooDeep(e) }
/// }
///
/// #[instrument_once(max_depth = 3, on_overflow = "error")]
/// fn nest(n: u32) -> Result<u32, ParseError> {
///     if n == 0 { Ok(0) } else { Ok(nest(n - 1)? + 1) }
/// }
///
/// # fn main() {
/// assert_eq!(nest(2).unwrap(), 2);
/// let Err(ParseError::TooDeep(e)) = nest(10) else { panic!() };
/// assert_eq!(e.limit(), 3);
/// assert!(e.to_string().contains("max_depth = 3"));
/// # }
/// ```
#[derive(Clone)]
pub struct DepthExceeded {
    function: &'static str,
    limit: u32,
    /// The recorded chain: outermost calls, then (when `missing > 0`) the
    /// innermost ones.
    chain: Vec<&'static str>,
    /// How many of `chain` come before the unrecorded middle.
    head: usize,
    /// Calls in the middle of a very deep chain that were not recorded.
    missing: usize,
    total: u32,
}

/// How many chain entries `Display` shows at each end before eliding.
const SHOWN: usize = 8;

impl DepthExceeded {
    #[cold]
    #[inline(never)]
    fn new(
        site: &'static Site,
        limit: u32,
        head: &[&'static Site],
        tail: &[&'static Site],
        total: u32,
    ) -> DepthExceeded {
        let recorded = head.len() + tail.len();
        DepthExceeded {
            function: site.qualified_name(),
            limit,
            head: head.len(),
            missing: (total as usize).saturating_sub(recorded),
            chain: head
                .iter()
                .chain(tail)
                .map(|s| s.qualified_name())
                .collect(),
            total,
        }
    }

    /// Qualified name of the function that overflowed.
    ///
    /// ```
    /// # use instrument_once::{instrument_once, DepthExceeded};
    /// #[instrument_once(max_depth = 1, on_overflow = "error")]
    /// fn f(again: bool) -> Result<(), DepthExceeded> { if again { f(false) } else { Ok(()) } }
    /// # fn main() {
    /// assert!(f(true).unwrap_err().function().ends_with("::f"));
    /// # }
    /// ```
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// The `max_depth` that was exceeded.
    ///
    /// ```
    /// # use instrument_once::{instrument_once, DepthExceeded};
    /// #[instrument_once(max_depth = 1, on_overflow = "error")]
    /// fn f(again: bool) -> Result<(), DepthExceeded> { if again { f(false) } else { Ok(()) } }
    /// # fn main() {
    /// assert_eq!(f(true).unwrap_err().limit(), 1);
    /// # }
    /// ```
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Qualified names of the instrumented calls that led here, outermost
    /// first (the overflowing call itself is not included). Of a chain
    /// deeper than 144 calls, the 16 outermost and the 128 innermost.
    ///
    /// ```
    /// # use instrument_once::{instrument_once, DepthExceeded};
    /// #[instrument_once(max_depth = 1, on_overflow = "error")]
    /// fn f(again: bool) -> Result<(), DepthExceeded> { if again { f(false) } else { Ok(()) } }
    /// # fn main() {
    /// assert_eq!(f(true).unwrap_err().chain().len(), 1);
    /// # }
    /// ```
    pub fn chain(&self) -> &[&'static str] {
        &self.chain
    }
}

impl fmt::Display for DepthExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instrument_once: `{}` exceeded max_depth = {} on one call chain of {} instrumented calls \
             and the refused one; outermost first: ",
            self.function, self.limit, self.total
        )?;
        // Consecutive repeats of one function are shown once, with a count;
        // `None` stands for the unrecorded middle of a very deep chain.
        let mut runs: Vec<(Option<&str>, usize)> = Vec::new();
        for (i, name) in self.chain.iter().enumerate() {
            if i == self.head && self.missing > 0 {
                runs.push((None, self.missing));
            }
            match runs.last_mut() {
                Some((Some(last), n)) if last == name => *n += 1,
                _ => runs.push((Some(name), 1)),
            }
        }
        let show = |f: &mut fmt::Formatter<'_>, run: &(Option<&str>, usize)| match run {
            (Some(name), 1) => write!(f, "{name} -> "),
            (Some(name), n) => write!(f, "{name} (x{n}) -> "),
            (None, n) => write!(f, "... ({n} calls not recorded) -> "),
        };
        if runs.len() <= 2 * SHOWN {
            for run in &runs {
                show(f, run)?;
            }
        } else {
            for run in &runs[..SHOWN] {
                show(f, run)?;
            }
            let elided: usize = runs[SHOWN..runs.len() - SHOWN].iter().map(|(_, n)| n).sum();
            write!(f, "... ({elided} calls elided) -> ")?;
            for run in &runs[runs.len() - SHOWN..] {
                show(f, run)?;
            }
        }
        write!(f, "{} (overflow)", self.function)
    }
}

impl fmt::Debug for DepthExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for DepthExceeded {}
