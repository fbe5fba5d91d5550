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
    &[
        "control", "request", "diagnose", "export", "overflow", "http",
    ],
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

/// How deep below the crate root a file's module is: `foo.rs` and
/// `foo/mod.rs` are 1 (`crate::foo`), `foo/bar.rs` is 2.
fn depth_of(src: &Path, file: &Path) -> usize {
    let rel = file.strip_prefix(src).unwrap();
    let parts = rel.components().count();
    if rel.ends_with("mod.rs") {
        parts - 1
    } else {
        parts
    }
}

/// A file's code without its comment lines, and with the whitespace after
/// each `::` removed, so a path broken over lines reads as one.
fn code_of(text: &str) -> String {
    // Block comments out, then each line's comment (a `//` not part of a
    // `://`, which string literals such as URLs hold).
    let mut uncommented = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("/*") {
        uncommented.push_str(&rest[..at]);
        rest = rest[at..]
            .find("*/")
            .map_or("", |end| &rest[at + end + 2..]);
    }
    uncommented.push_str(rest);
    let code: Vec<&str> = uncommented
        .lines()
        .map(|l| {
            let mut cut = l.len();
            let mut from = 0;
            while let Some(at) = l[from..].find("//") {
                let at = from + at;
                if at == 0 || l.as_bytes()[at - 1] != b':' {
                    cut = at;
                    break;
                }
                from = at + 2;
            }
            &l[..cut]
        })
        .collect();
    let joined = code.join("\n");
    let mut out = String::with_capacity(joined.len());
    let mut rest = joined.as_str();
    while let Some(at) = rest.find("::") {
        out.push_str(&rest[..at + 2]);
        rest = rest[at + 2..].trim_start();
    }
    out.push_str(rest);
    out
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The first segment of each path in a `{..}` group (`text` starts after
/// the brace), at the group's own level.
fn group_heads(text: &str, out: &mut Vec<String>) {
    let mut level = 0;
    let mut expect = true;
    for (i, c) in text.char_indices() {
        match c {
            '{' => level += 1,
            '}' if level == 0 => return,
            '}' => level -= 1,
            ',' if level == 0 => expect = true,
            '*' if expect && level == 0 => {
                out.push("*".to_owned());
                expect = false;
            }
            c if expect && level == 0 && !c.is_whitespace() => {
                out.push(ident(&text[i..]));
                expect = false;
            }
            _ => {}
        }
    }
}

/// The names a path from the crate root starts with (`text` starts after
/// `crate::` or enough `super::`s): one, or each of a group's.
fn heads(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    match text.strip_prefix('{') {
        Some(group) => group_heads(group, &mut out),
        None if text.starts_with('*') => out.push("*".to_owned()),
        None => out.push(ident(text)),
    }
    out
}

/// Every module of the crate root a file's code (not its comments) names:
/// `crate::name`, `crate::{a, b::c}`, and `super::name` where the `super`s
/// reach the root (`depth` is the file's, see [`depth_of`]).
fn named_modules(text: &str, depth: usize) -> BTreeSet<String> {
    let code = code_of(text);
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        // `$crate::` is the runtime seen from a user's crate; a longer
        // identifier ending in `crate` is not the keyword.
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c == '$' || c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        found.extend(heads(&code[at + "crate::".len()..]));
    }
    let mut at = 0;
    while let Some(next) = code[at..].find("super::") {
        let begin = at + next;
        let before = code[..begin].chars().next_back();
        let mut end = begin;
        let mut supers = 0;
        while code[end..].starts_with("super::") {
            supers += 1;
            end += "super::".len();
        }
        at = end;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        // (`use super::*` is how an inline `mod tests` reaches its own
        // file's items, which this reading of `super` cannot tell apart.)
        if supers == depth {
            found.extend(heads(&code[end..]).into_iter().filter(|h| h != "*"));
        }
    }
    found.into_iter().filter(|name| !name.is_empty()).collect()
}

/// The crate root's re-exports: each name `lib.rs` re-exports (`pub use
/// module::{A, b}`), with the module it comes from, so that `crate::A` is a
/// dependency on that module.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let code = code_of(lib);
    let mut out = BTreeMap::new();
    for (at, _) in code.match_indices("pub use ") {
        let path = &code[at + "pub use ".len()..];
        let module = ident(path);
        let Some(after) = path[module.len()..].strip_prefix("::") else {
            continue;
        };
        let mut names = Vec::new();
        if let Some(group) = after.strip_prefix('{') {
            group_heads(group, &mut names);
        } else {
            let end = after.find(';').unwrap_or(after.len());
            names.push(ident(after[..end].rsplit("::").next().unwrap_or("")));
        }
        for name in names.into_iter().filter(|n| !n.is_empty()) {
            out.insert(name, module.clone());
        }
    }
    out
}

/// Which modules each module names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let reexported = reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let names = graph.entry(module.clone()).or_default();
        for named in named_modules(&text, depth_of(&src, &file)) {
            // A glob from the root would hide what it depends on.
            assert!(
                !named.starts_with('*'),
                "{}: a glob import from the crate root; name the modules",
                file.display()
            );
            let target = reexported.get(&named).cloned().unwrap_or(named);
            if target != module {
                names.insert(target);
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

/// The checker itself: it sees a dependency written in a path, a group,
/// a path broken over lines and `super::` that reaches the crate root, and
/// skips comments and `$crate`.
#[test]
fn the_checker_finds_module_paths_in_code_only() {
    let names = |text: &str, depth: usize| -> Vec<String> {
        named_modules(text, depth).into_iter().collect()
    };
    assert_eq!(
        names(
            "use crate::site::Site;\n// crate::registry in a comment\n/// [`crate::control`]\nlet x = crate::stats::timing();\n$crate::__private::x!();",
            1
        ),
        ["site", "stats"]
    );
    assert_eq!(
        names(
            "use crate::{\n    clock,\n    depth::{Chain, Local},\n    sync::lock,\n};",
            1
        ),
        ["clock", "depth", "sync"]
    );
    assert_eq!(names("let t = crate::\n    table::render();", 2), ["table"]);
    // From `foo.rs` (depth 1) one `super` is the root; from `foo/bar.rs`
    // (depth 2) it is `foo` itself, and two reach the root.
    assert_eq!(names("use super::registry::Site;", 1), ["registry"]);
    assert!(names("use super::chain::Chain;", 2).is_empty());
    assert_eq!(
        names("use super::super::{export, site};", 2),
        ["export", "site"]
    );
    assert!(names("use my_crate::x; use instrument_once_crate::y;", 1).is_empty());
    // Comments inside a group, at a line's end or in a block, hide nothing.
    assert_eq!(
        names(
            "use crate::{clock, // why\n    registry, /* and */ site};",
            1
        ),
        ["clock", "registry", "site"]
    );
    assert_eq!(
        names("let u = \"https://x\"; crate::stats::f();", 1),
        ["stats"]
    );
    // A glob is seen (and refused by the graph).
    assert_eq!(names("use crate::*;", 1), ["*"]);
    // The root's re-exports lead back to their modules.
    let map = reexports("pub use registry::{registry, LookupError};\npub use site::Site;");
    assert_eq!(map.get("LookupError").map(String::as_str), Some("registry"));
    assert_eq!(map.get("Site").map(String::as_str), Some("site"));
}
