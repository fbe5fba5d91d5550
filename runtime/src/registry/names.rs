//! Finding a site by name, and the unique names exports use.

use std::fmt;

use crate::site::Site;

/// Why [`Registry::lookup`](crate::Registry::lookup) found no single function.
///
/// ```
/// let err = instrument_once::registry().lookup("no::such::fn").unwrap_err();
/// assert!(matches!(err, instrument_once::LookupError::NotFound { .. }));
/// assert!(err.to_string().contains("no instrumented function"));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// No function has this name.
    NotFound {
        /// The name looked up.
        name: String,
        /// Qualified names that differ from it only in case, or end in the
        /// same function name: probably what was meant.
        closest: Vec<&'static str>,
    },
    /// Several functions have this qualified name.
    Ambiguous {
        /// The name looked up.
        name: String,
        /// Their unique names (see [`Site::unique_name`]), each of which
        /// finds one of them.
        candidates: Vec<String>,
    },
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotFound { name, closest } => {
                write!(
                    f,
                    "no instrumented function is named `{name}` (names are `module::path::fn`, or \
                     `module::path::Type::fn` for methods under an impl-level attribute, and \
                     case-sensitive)"
                )?;
                if !closest.is_empty() {
                    write!(f, "; did you mean `{}`?", closest.join("`, `"))?;
                }
                Ok(())
            }
            LookupError::Ambiguous { name, candidates } => write!(
                f,
                "`{name}` names {} instrumented functions: `{}`; look one up by its unique name, \
                 or use `Registry::get_all`",
                candidates.len(),
                candidates.join("`, `")
            ),
        }
    }
}

impl std::error::Error for LookupError {}

/// The unique name of `site` among `sites`.
fn unique_name_in(site: &'static Site, sites: &[&'static Site]) -> String {
    let at = sites
        .iter()
        .position(|s| std::ptr::eq(*s, site))
        .expect("a registered site");
    unique_names(sites).swap_remove(at)
}

/// Qualified names close to `name`: equal but for case, or ending in the
/// same last segment.
pub(crate) fn closest(name: &str, sites: &[&'static Site]) -> Vec<&'static str> {
    let last = name.rsplit("::").next().unwrap_or(name);
    let mut out: Vec<&'static str> = sites
        .iter()
        .map(|s| s.qualified_name())
        .filter(|q| {
            q.eq_ignore_ascii_case(name)
                || q.rsplit("::")
                    .next()
                    .is_some_and(|l| l.eq_ignore_ascii_case(last))
                || (last.len() >= 4 && edit_distance(q.rsplit("::").next().unwrap_or(q), last) <= 2)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out.truncate(5);
    out
}

/// Levenshtein distance of two short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

impl Site {
    /// The name exports use for this function: its qualified name, or, when
    /// another instrumented function has the same qualified name, the
    /// qualified name followed by its place: `my_app::new (src/a.rs:12)`
    /// (and a number, `(src/a.rs:12 #2)`, for functions one macro call
    /// generated, which share their place).
    /// So every function is its own Prometheus series and its own table
    /// row. [`Registry::get`](crate::Registry::get) finds a function by this name too.
    ///
    /// (With the default `static-registry` feature every function of the
    /// binary is known from the start, in the order the linker placed them,
    /// so the name never changes for a given binary; without it, a name
    /// gains its place when a same-named function is first called, and the
    /// numbers follow the order of first calls.)
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn solo() {}
    /// # fn main() {
    /// let site = instrument_once::registry().get(concat!(module_path!(), "::solo")).unwrap();
    /// assert_eq!(site.unique_name(), site.qualified_name());
    /// # }
    /// ```
    pub fn unique_name(&'static self) -> String {
        let sites = super::lock().sites.clone();
        unique_name_in(self, &sites)
    }
}

/// The unique name of every site of `sites`, in order (for exports: one
/// pass, whatever the number of sites). Sites that share a qualified name
/// get their place; sites that share a place too (generated by one macro
/// call, whose `line!()` is the call's) are numbered in registration order.
pub(crate) fn unique_names(sites: &[&'static Site]) -> Vec<String> {
    use std::collections::HashMap;
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut by_place: HashMap<(&str, &str, u32), Vec<u32>> = HashMap::new();
    for s in sites {
        *by_name.entry(s.qualified_name()).or_default() += 1;
        by_place
            .entry((s.qualified_name(), s.file(), s.line()))
            .or_default()
            .push(s.index());
    }
    for indices in by_place.values_mut() {
        indices.sort_unstable();
    }
    sites
        .iter()
        .map(|s| {
            if by_name[s.qualified_name()] == 1 {
                return s.qualified_name().to_owned();
            }
            let place = &by_place[&(s.qualified_name(), s.file(), s.line())];
            if place.len() == 1 {
                format!("{} ({}:{})", s.qualified_name(), s.file(), s.line())
            } else {
                let nth = place.iter().position(|i| *i == s.index()).unwrap_or(0) + 1;
                format!("{} ({}:{} #{nth})", s.qualified_name(), s.file(), s.line())
            }
        })
        .collect()
}
