//! The global registry: one list of every instrumented function in the binary.
//!
//! # Design
//!
//! The registry is written only on cold paths (a site's first registration, a
//! switch, a reset) and read only by inspection, so it is a plain `Vec` under
//! a `Mutex`. The hot path never touches it: after registration a call reads
//! nothing but its own site's `ctl` word.
//!
//! With the default `static-registry` feature every `#[instrument_once]`
//! function also places a reference to its site in a link-time list, and the
//! first access to [`registry()`] registers all of them, so `sites()` lists
//! functions that were never called (on Linux, macOS and Windows; see the
//! `linkme` crate for the full platform list). Without the feature, or on
//! other platforms, a site appears at its first call.
//!
//! Depth bookkeeping does not go through the registry either: each function
//! has its own thread-local depth counter, declared by the attribute, and a
//! thread's chain records each active call's registry index, which the site
//! keeps in its `ctl` word.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use crate::site::Site;

pub(crate) struct Inner {
    pub(crate) sites: Vec<&'static Site>,
    pub(crate) control: crate::control::State,
}

static INNER: Mutex<Inner> = Mutex::new(Inner {
    sites: Vec::new(),
    control: crate::control::State::UNINIT,
});

static STATIC_SITES: Once = Once::new();
/// Set while the link-time list is walked, when reporting must wait (a
/// subscriber reached from inside the walk could re-enter `registry()`).
static WALKING: AtomicBool = AtomicBool::new(false);

/// The registry lock. Poisoning is ignored: the protected data is only ever
/// mutated by non-panicking code, so it is consistent even after a panic
/// elsewhere.
pub(crate) fn lock() -> MutexGuard<'static, Inner> {
    let mut guard = INNER.lock().unwrap_or_else(PoisonError::into_inner);
    guard.control.init_from_env();
    guard
}

/// Adds a site and publishes its `ctl` word (registered, and on or off as
/// the directives say) while the lock is held: a switch applied by
/// [`crate::control::set`] takes the same lock, so it cannot be overwritten
/// by a registration that decided before it. Returns the published word.
pub(crate) fn insert(site: &'static Site) -> u32 {
    let mut inner = lock();
    let index = u32::try_from(inner.sites.len())
        .unwrap_or(u32::MAX)
        .min(crate::site::INDEX_MAX);
    inner.sites.push(site);
    let enabled = crate::control::decide(&inner, site).0;
    let ctl = crate::site::REGISTERED
        | if enabled { crate::site::ENABLED } else { 0 }
        | index << crate::site::INDEX_SHIFT;
    site.ctl.store(ctl, std::sync::atomic::Ordering::Release);
    ctl
}

/// Whether the link-time list is being walked right now.
pub(crate) fn walking() -> bool {
    WALKING.load(Ordering::Acquire)
}

/// The list of every instrumented function; get it with [`registry()`].
///
/// ```
/// #[instrument_once::instrument_once]
/// fn never_called() {}
///
/// # fn main() {
/// let reg: &'static instrument_once::Registry = instrument_once::registry();
/// let name = concat!(module_path!(), "::never_called");
/// assert!(reg.sites().iter().any(|s| s.qualified_name() == name));
/// # }
/// ```
#[derive(Debug)]
pub struct Registry {
    _private: (),
}

static REGISTRY: Registry = Registry { _private: () };

/// The registry of every instrumented function linked into this binary.
///
/// The first access reads the `INSTRUMENT_ONCE` environment variable (see
/// [`crate::control`]) and, with the default `static-registry` feature,
/// registers every annotated function, called or not.
///
/// ```
/// #[instrument_once::instrument_once]
/// fn load(id: u64) -> u64 { id }
///
/// # fn main() {
/// load(1);
/// for site in instrument_once::registry().sites() {
///     println!("{} at {}:{}: {} calls", site.qualified_name(), site.file(), site.line(), site.stats().calls);
/// }
/// # }
/// ```
pub fn registry() -> &'static Registry {
    STATIC_SITES.call_once(|| {
        WALKING.store(true, Ordering::Release);
        #[cfg(feature = "static-registry")]
        for site in crate::private::SITES {
            site.ensure_registered();
        }
        WALKING.store(false, Ordering::Release);
    });
    crate::control::warn_invalid_once();
    &REGISTRY
}

impl Registry {
    /// Every registered site, sorted by qualified name, then file and line.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn a() {}
    /// # fn main() {
    /// let sites = instrument_once::registry().sites();
    /// assert!(sites.iter().any(|s| s.name() == "a"));
    /// # }
    /// ```
    pub fn sites(&self) -> Vec<&'static Site> {
        let mut sites = lock().sites.clone();
        sites.sort_by_key(|s| (s.qualified_name(), s.file(), s.line()));
        sites
    }

    /// The function with this name: its qualified name
    /// (`module::path::fn`, or `module::path::Type::fn` for methods under an
    /// impl-level attribute), or its [unique name](Site::unique_name).
    ///
    /// Two functions can share a qualified name (methods of two types under
    /// method-level attributes, `impl From<u8> for A` and `impl From<u16> for
    /// A`, same-named functions nested in two functions of one module). Such
    /// a name is ambiguous and `get` returns `None` rather than pick one:
    /// [`Registry::lookup`] says why and lists the unique names to use
    /// instead; [`Registry::get_all`] returns all of them.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn load() {}
    /// # fn main() {
    /// let reg = instrument_once::registry();
    /// assert!(reg.get(concat!(module_path!(), "::load")).is_some());
    /// assert!(reg.get("no::such::fn").is_none());
    /// # }
    /// ```
    pub fn get(&self, name: &str) -> Option<&'static Site> {
        self.lookup(name).ok()
    }

    /// Like [`Registry::get`], with an error that says why no single
    /// function was found: no function has that name (with the names that
    /// come closest), or several do (with their unique names).
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn load_user() {}
    /// # fn main() {
    /// let reg = instrument_once::registry();
    /// let err = reg.lookup(concat!(module_path!(), "::load_usr")).unwrap_err();
    /// assert!(err.to_string().contains("load_user"), "{err}");
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`LookupError::NotFound`] or [`LookupError::Ambiguous`].
    pub fn lookup(&self, name: &str) -> Result<&'static Site, LookupError> {
        let sites = lock().sites.clone();
        let mut found: Vec<&'static Site> = sites
            .iter()
            .copied()
            .filter(|s| s.qualified_name() == name)
            .collect();
        found.sort_by_key(|s| (s.file(), s.line()));
        match found.len() {
            1 => Ok(found[0]),
            0 => {
                // A unique name carries its place in parentheses.
                let by_place = if name.ends_with(')') {
                    let names = unique_names(&sites);
                    names.iter().position(|n| n == name).map(|i| sites[i])
                } else {
                    None
                };
                by_place.ok_or_else(|| LookupError::NotFound {
                    name: name.to_owned(),
                    closest: closest(name, &sites),
                })
            }
            _ => {
                let names = unique_names(&sites);
                let unique_of = |site: &&'static Site| {
                    let at = sites.iter().position(|s| std::ptr::eq(*s, *site));
                    at.map(|i| names[i].clone()).unwrap_or_default()
                };
                Err(LookupError::Ambiguous {
                    name: name.to_owned(),
                    candidates: found.iter().map(unique_of).collect(),
                })
            }
        }
    }

    /// Every site with this qualified name, ordered by file and line.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn load() {}
    /// # fn main() {
    /// let all = instrument_once::registry().get_all(concat!(module_path!(), "::load"));
    /// assert_eq!(all.len(), 1);
    /// # }
    /// ```
    pub fn get_all(&self, qualified_name: &str) -> Vec<&'static Site> {
        let mut found: Vec<_> = lock()
            .sites
            .iter()
            .copied()
            .filter(|s| s.qualified_name() == qualified_name)
            .collect();
        found.sort_by_key(|s| (s.file(), s.line()));
        found
    }

    /// Every layer of every live [`crate::hook::HookSlot`], beside the
    /// functions [`Registry::sites`] lists: which hook is wrapped, by whom,
    /// where, and how often each layer ran (see [`crate::hook::hooks`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let slot = instrument_once::hook::HookSlot::new("db::on_query", |q: u32| q);
    /// slot.wrap_once("apm", |inner| Arc::new(move |q| inner(q)));
    /// let hooks = instrument_once::registry().hooks();
    /// assert!(hooks.iter().any(|h| h.slot == "db::on_query" && h.layer.key == "apm"));
    /// ```
    pub fn hooks(&self) -> Vec<crate::hook::HookLayer> {
        crate::hook::hooks()
    }

    /// Zero the statistics of every site (tests, benchmarks). Calls in flight
    /// at that moment stay counted as in flight, so the snapshot invariants
    /// keep holding across a reset.
    ///
    /// ```
    /// #[instrument_once::instrument_once]
    /// fn work() {}
    /// # fn main() {
    /// work();
    /// let reg = instrument_once::registry();
    /// reg.reset_stats();
    /// assert_eq!(reg.get(concat!(module_path!(), "::work")).unwrap().stats().calls, 0);
    /// # }
    /// ```
    pub fn reset_stats(&self) {
        for site in self.sites() {
            site.reset_stats();
        }
    }
}

/// Why [`Registry::lookup`] found no single function.
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
fn closest(name: &str, sites: &[&'static Site]) -> Vec<&'static str> {
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
    /// row. [`Registry::get`] finds a function by this name too.
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
        let sites = lock().sites.clone();
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
