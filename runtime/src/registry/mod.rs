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
//!
//! # Files
//!
//! [`list`]: the list itself, registration, the link-time slice;
//! [`switches`]: the directives in force (from the environment or
//! [`crate::control::set`]) and what they decide for a site; [`names`]:
//! finding a site by name, and the unique names exports use. The registry
//! sits above the site it lists (never beside it in a cycle) and below the
//! public switches, diagnosis and exports.
mod list;
pub(crate) mod names;
pub(crate) mod switches;

use crate::site::Site;

#[cfg(feature = "static-registry")]
pub use list::SITES;
pub(crate) use list::{lock, sites_by_index};
pub(crate) use names::unique_names;
pub use names::LookupError;

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
    list::register_static_sites();
    switches::warn_invalid_once();
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
    ///
    /// From code, [`crate::site!`] names a function by its path instead, and
    /// the compiler checks the path.
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
                    closest: names::closest(name, &sites),
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
