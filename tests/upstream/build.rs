//! Derives the parity suite from tracing-attributes' own integration tests.
//!
//! The published `tracing-attributes` crate ships its `tests/` folder; cargo
//! downloads the pinned version as a build dependency of this package. This
//! script copies every test file (all but `ui.rs`, which runs trybuild on
//! tracing's own compile-fail cases) into `OUT_DIR`, rewritten mechanically
//! so that the attribute under test is `#[instrument_once]`:
//!
//! 1. `use tracing_attributes::instrument;` becomes
//!    `use instrument_once::instrument_once;`;
//! 2. every `#[instrument]` / `#[instrument(..)]` attribute becomes
//!    `#[instrument_once]` / `#[instrument_once(..)]`;
//! 3. `tracing_test::` (an unpublished helper crate of the tracing
//!    repository) becomes `upstream_support::`, this package's stand-in.
//!
//! Nothing else changes: the expectations, the subscribers and the test
//! bodies are upstream's. Each `tests/<name>.rs` of this package includes the
//! rewritten file of the same name. The build fails if upstream's list of
//! files differs from those, or if a reference to `tracing_attributes`
//! survives the rewrite, so no test is skipped silently. Upstream code is
//! never committed: it is derived on every build.
//!
//! The sources are found in cargo's registry (`$CARGO_HOME/registry/src`,
//! `~/.cargo` by default); set `UPSTREAM_TRACING_ATTRIBUTES` to the crate's
//! folder to use another copy (vendored sources, say).

use std::path::{Path, PathBuf};

/// The pinned version (keep in step with `Cargo.toml`).
const VERSION: &str = "0.1.31";

/// Upstream's test files, each included by `tests/<name>.rs`.
const FILES: &[&str] = &[
    "async_fn",
    "dead_code",
    "destructuring",
    "err",
    "fields",
    "follows_from",
    "instrument",
    "levels",
    "names",
    "parents",
    "ret",
    "targets",
];

/// Upstream files that are not run: trybuild cases of tracing's own
/// compile errors, whose messages are tracing's.
const EXCLUDED: &[&str] = &["ui"];

fn main() {
    println!("cargo:rerun-if-env-changed=UPSTREAM_TRACING_ATTRIBUTES");
    println!("cargo:rerun-if-changed=build.rs");
    let source = upstream_dir().unwrap_or_else(|| {
        panic!(
            "tracing-attributes {VERSION} sources not found in cargo's registry; \
             run `cargo fetch`, or set UPSTREAM_TRACING_ATTRIBUTES to the crate's folder"
        )
    });
    let tests = source.join("tests");
    let mut found: Vec<String> = std::fs::read_dir(&tests)
        .unwrap_or_else(|e| panic!("{}: {e}", tests.display()))
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .filter(|name| !EXCLUDED.contains(&name.as_str()))
        .collect();
    found.sort();
    assert_eq!(
        found, FILES,
        "tracing-attributes {VERSION}'s test files differ from the ones this package runs"
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in FILES {
        let path = tests.join(format!("{name}.rs"));
        println!("cargo:rerun-if-changed={}", path.display());
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rewritten = rewrite(&text);
        assert!(
            !rewritten.contains("tracing_attributes"),
            "{name}.rs: a reference to tracing_attributes survived the rewrite"
        );
        std::fs::write(out.join(format!("{name}.rs")), rewritten).expect("write to OUT_DIR");
    }
}

/// The three rewrites of the module documentation, nothing else.
fn rewrite(text: &str) -> String {
    let text = text
        .replace(
            "use tracing_attributes::instrument;",
            "use instrument_once::instrument_once;",
        )
        .replace("tracing_test::", "upstream_support::");
    // `#[instrument]` and `#[instrument(`, not `#[instrumented..]`.
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("#[instrument") {
        let after = &rest[at + "#[instrument".len()..];
        out.push_str(&rest[..at]);
        if after.starts_with(']') || after.starts_with('(') {
            out.push_str("#[instrument_once");
        } else {
            out.push_str("#[instrument");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The crate's folder: the override, or the registry's copy.
fn upstream_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("UPSTREAM_TRACING_ATTRIBUTES") {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let crate_dir = format!("tracing-attributes-{VERSION}");
    std::fs::read_dir(home.join("registry").join("src"))
        .ok()?
        .filter_map(Result::ok)
        .map(|index| index.path().join(&crate_dir))
        .find(|dir| dir.join("tests").is_dir())
}
