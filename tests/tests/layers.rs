//! The runtime's modules form layers without cycles: each module names
//! (`crate::module`) only modules of its own layer or below, and no two
//! modules name each other, directly or through others. The layers are the
//! ones `runtime/src/lib.rs` declares its modules in; a new module must be
//! given a layer here too.
#![allow(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top.
const LAYERS: &[&[&str]] = &[
    &["clock", "hook", "stats", "sync", "table"],
    &["site"],
    &["depth"],
    &["directives"],
    &["registry"],
    &["control", "request", "diagnose", "export", "overflow"],
    &["call", "__private"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None`: the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.as_str() {
        "lib.rs" => None,
        "private.rs" => Some("__private".to_owned()),
        name => Some(name.trim_end_matches(".rs").to_owned()),
    }
}

/// Every `crate::name` a file's code (not its comments) uses.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = &rest[..at];
            rest = &rest[at + "crate::".len()..];
            // `$crate::` is the runtime seen from a user's crate.
            if before.ends_with('$') {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            {
                out.insert(name);
            }
        }
    }
    out
}

/// Which modules each module names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let names = graph.entry(module.clone()).or_default();
        for named in named_modules(&text) {
            if named != module {
                names.insert(named);
            }
        }
    }
    graph
}

#[test]
fn every_module_has_a_layer_and_names_only_its_own_or_lower_ones() {
    let graph = graph();
    assert!(graph.len() >= 15, "the runtime's modules: {graph:?}");
    for (module, named) in &graph {
        let layer = layer_of(module)
            .unwrap_or_else(|| panic!("module `{module}` has no layer in tests/tests/layers.rs"));
        for other in named {
            // Names such as `crate::instrument_once` (the attribute) or
            // items of the crate root are not modules.
            let Some(other_layer) = layer_of(other) else {
                assert!(
                    !graph.contains_key(other),
                    "`{other}` has no layer in tests/tests/layers.rs"
                );
                continue;
            };
            assert!(
                other_layer <= layer,
                "`{module}` (layer {}) names `{other}`, a layer above it ({})",
                layer + 1,
                other_layer + 1
            );
        }
    }
}

#[test]
fn no_module_reaches_itself() {
    let graph = graph();
    for start in graph.keys() {
        // Depth-first over what `start` names, looking for `start`.
        let mut stack: Vec<(&String, Vec<&String>)> = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((module, path)) = stack.pop() {
            for next in graph.get(module).into_iter().flatten() {
                let names: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
                assert!(
                    next != start,
                    "import cycle: {} -> {start}",
                    names.join(" -> ")
                );
                if seen.insert(next) && graph.contains_key(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
}

/// The checker itself: it sees a dependency written in a path, and skips
/// comments and `$crate`.
#[test]
fn the_checker_finds_module_paths_in_code_only() {
    let names = named_modules(
        "use crate::site::Site;\n// crate::registry in a comment\n/// [`crate::control`]\nlet x = crate::stats::timing();\n$crate::__private::x!();",
    );
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["site", "stats"]);
}
