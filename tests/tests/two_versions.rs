//! Two incompatible copies of the runtime crate in one dependency graph fail
//! to resolve, with a message naming the `links` value. The fixture
//! workspace is only resolved (`cargo generate-lockfile`: no crate is
//! downloaded or built). Resolution is tried offline first, from the index
//! cache of this workspace's own build, and online when that cache lacks an
//! entry (a target-specific dependency this platform never fetched).
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A fixture app depending on this repository's runtime, and with `second`,
/// on an `instrument-once` 0.2.0 that declares the same `links` value.
fn fixture(name: &str, second: bool) -> PathBuf {
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime")
        .canonicalize()
        .unwrap();
    let root = std::env::temp_dir().join(format!("instrument-once-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let links = "instrument_once_registry";
    write(
        &root.join("v2/Cargo.toml"),
        &format!(
            "[package]\nname = \"instrument-once\"\nversion = \"0.2.0\"\nedition = \"2021\"\n\
             links = \"{links}\"\nbuild = \"build.rs\"\n"
        ),
    );
    write(&root.join("v2/build.rs"), "fn main() {}\n");
    write(&root.join("v2/src/lib.rs"), "");
    let extra = if second {
        "instrument-once-v2 = { package = \"instrument-once\", path = \"v2\" }\n"
    } else {
        ""
    };
    write(
        &root.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"app\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\ninstrument-once = {{ path = \"{}\" }}\n{extra}\n[workspace]\n",
            runtime.display().to_string().replace('\\', "/")
        ),
    );
    write(&root.join("src/main.rs"), "fn main() {}\n");
    root
}

fn resolve(root: &Path) -> (bool, String) {
    let attempt = |offline: bool| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.arg("generate-lockfile");
        if offline {
            cmd.arg("--offline");
        }
        let out = cmd
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", root.join("target"))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    match attempt(true) {
        (false, stderr) if !stderr.contains("links") => attempt(false),
        done => done,
    }
}

#[test]
fn one_copy_resolves() {
    let root = fixture("one-copy", false);
    let (ok, stderr) = resolve(&root);
    let _ = std::fs::remove_dir_all(&root);
    assert!(ok, "{stderr}");
}

#[test]
fn two_incompatible_copies_fail_to_resolve() {
    let root = fixture("two-copies", true);
    let (ok, stderr) = resolve(&root);
    let _ = std::fs::remove_dir_all(&root);
    assert!(!ok, "two registries in one binary must not build");
    assert!(stderr.contains("instrument_once_registry"), "{stderr}");
    assert!(stderr.contains("links"), "{stderr}");
}
