//! The registry lists every instrumented function, called or not, and finds
//! sites by qualified name.
#![allow(missing_docs)]

use instrument_once::instrument_once;
use instrument_once_tests::site;

// Never called on purpose: the registry lists it all the same.
#[allow(dead_code)]
#[instrument_once]
fn never_called(_x: u32) {}

#[instrument_once(name = "custom", target = "db", level = "warn")]
fn renamed() {}

#[derive(Debug)]
struct Repo;

#[instrument_once]
impl Repo {
    fn get(&self) -> u32 {
        1
    }
}

mod inner {
    #[instrument_once::instrument_once]
    pub(crate) fn get() -> u32 {
        2
    }
}

mod same_name {
    /// Two functions with one qualified name: a free function and a method
    /// under a method-level attribute (qualified without the type).
    #[instrument_once::instrument_once]
    pub(crate) fn dup() {}

    pub(crate) struct S;
    impl S {
        #[instrument_once::instrument_once]
        pub(crate) fn dup() {}
    }
}

#[test]
fn never_called_functions_are_listed_with_zero_stats() {
    let name = concat!(module_path!(), "::never_called");
    let sites = instrument_once::registry().sites();
    let site = sites
        .iter()
        .find(|s| s.qualified_name() == name)
        .expect("listed before its first call");
    assert_eq!(site.stats(), instrument_once::Stats::default());
    assert_eq!(site.name(), "never_called");
    assert_eq!(site.module_path(), module_path!());
    assert!(site.file().ends_with("registry.rs"));
}

#[test]
fn metadata_follows_the_options() {
    let s = site!(renamed);
    assert_eq!(
        (s.name(), s.target(), s.level()),
        ("custom", "db", tracing::Level::WARN)
    );
    renamed();
    assert_eq!(s.stats().calls, 1);
}

#[test]
fn methods_of_an_instrumented_impl_are_qualified_with_the_type() {
    assert_eq!(Repo.get(), 1);
    assert_eq!(site!(Repo::get).stats().calls, 1);
    assert_eq!(inner::get(), 2);
    assert_eq!(site!(inner::get).stats().calls, 1);
    assert!(instrument_once::registry()
        .get("no::such::function")
        .is_none());
}

#[test]
fn two_sites_with_one_name_are_both_listed_and_get_refuses_to_pick_one() {
    let reg = instrument_once::registry();
    let name = concat!(module_path!(), "::same_name::dup");
    let all = reg.get_all(name);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].line() < all[1].line());
    assert!(reg.get(name).is_none(), "an ambiguous name finds nothing");
    let Err(instrument_once::LookupError::Ambiguous { candidates, .. }) = reg.lookup(name) else {
        panic!("{:?}", reg.lookup(name));
    };
    let unique: Vec<String> = all.iter().map(|s| s.unique_name()).collect();
    assert_eq!(candidates, unique);
    assert_eq!(
        unique[0],
        format!("{name} ({}:{})", all[0].file(), all[0].line())
    );
    // Each unique name finds its own function.
    for (site, unique) in all.iter().zip(&unique) {
        assert!(std::ptr::eq(reg.get(unique).unwrap(), *site));
    }
    same_name::S::dup();
    assert_eq!((all[0].stats().calls, all[1].stats().calls), (0, 1));
    same_name::dup();
    assert_eq!(all[0].stats().calls, 1);
}

#[test]
fn a_name_that_finds_nothing_suggests_the_closest() {
    let reg = instrument_once::registry();
    let err = reg
        .lookup(concat!(module_path!(), "::inner::Get"))
        .unwrap_err();
    let instrument_once::LookupError::NotFound { closest, .. } = &err else {
        panic!("{err}");
    };
    assert!(
        closest.contains(&concat!(module_path!(), "::inner::get")),
        "{closest:?}"
    );
    assert!(err.to_string().contains("case-sensitive"), "{err}");
}

#[test]
fn sites_are_sorted_and_debug_prints_the_name() {
    let sites = instrument_once::registry().sites();
    assert!(sites
        .windows(2)
        .all(|w| w[0].qualified_name() <= w[1].qualified_name()));
    let debug = format!("{:?}", site!(never_called));
    assert!(
        debug.contains("never_called") && debug.contains("enabled: true"),
        "{debug}"
    );
}

// ------------------------------------------------------------- site!(path)

mod by_path {
    pub(crate) mod inner {
        #[instrument_once::instrument_once]
        pub(crate) fn deep() -> u8 {
            1
        }

        pub(crate) fn plain() -> u8 {
            2
        }

        /// `super::` from here reaches `by_path`.
        pub(crate) fn site_of_sibling(
        ) -> Result<&'static instrument_once::Site, instrument_once::LookupError> {
            instrument_once::site!(super::sibling)
        }
    }

    #[instrument_once::instrument_once]
    pub(crate) fn sibling() -> u8 {
        3
    }

    /// A generic type: `site!` checks its path without its arguments.
    #[derive(Debug)]
    pub(crate) struct Boxed<T>(pub(crate) T);

    #[instrument_once::instrument_once]
    impl<T: std::fmt::Debug + Copy> Boxed<T> {
        pub(crate) fn open(&self) -> T {
            self.0
        }
    }

    #[derive(Debug)]
    pub(crate) struct Store;

    impl Store {
        // A method-level attribute: registered without the type's name.
        #[instrument_once::instrument_once]
        pub(crate) fn get(&self) -> u8 {
            4
        }
    }
}

/// `site!` finds functions by paths from `crate`, `self` and `super`, and
/// methods by `Type::method`; a function that exists but is not
/// instrumented is an `Err`, not a panic.
#[test]
fn site_finds_a_function_by_its_checked_path() {
    by_path::inner::deep();
    let deep = instrument_once::site!(crate::by_path::inner::deep).unwrap();
    assert_eq!((deep.name(), deep.stats().calls), ("deep", 1));
    let same = instrument_once::site!(self::by_path::inner::deep).unwrap();
    assert!(std::ptr::eq(deep, same));
    assert_eq!(by_path::sibling(), 3);
    let sibling = by_path::inner::site_of_sibling().unwrap();
    assert_eq!(sibling.name(), "sibling");
    assert_eq!(by_path::Store.get(), 4);
    let get = instrument_once::site!(crate::by_path::Store::get).unwrap();
    assert_eq!((get.name(), get.stats().calls), ("get", 1));
    assert_eq!(by_path::Boxed(5u8).open(), 5);
    let open = instrument_once::site!(crate::by_path::Boxed::open).unwrap();
    assert_eq!((open.name(), open.stats().calls), ("open", 1));
    // A method of a type that has none of that name instrumented: an
    // `Err`, not another function's site.
    assert!(instrument_once::site!(crate::by_path::Store::open).is_err());
    assert_eq!(by_path::inner::plain(), 2);
    let err = instrument_once::site!(crate::by_path::inner::plain).unwrap_err();
    assert!(
        matches!(err, instrument_once::LookupError::NotFound { .. }),
        "{err}"
    );
}
