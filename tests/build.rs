//! Generates the table of the differential test (`tests/differential.rs`):
//! every function shape crossed with every option set that applies to it,
//! each case a pair of functions with the same body, one under
//! `#[tracing::instrument(..)]`, one under `#[instrument_once(..)]`.

use std::fmt::Write as _;

/// A function shape: how it is declared and how its body ends.
struct Shape {
    name: &'static str,
    /// The shape returns `Result` (so `err` applies).
    result: bool,
    /// The shape's output implements `Display` (so `ret(Display)` applies:
    /// without `err`, `ret` records the whole output, a `Result` too).
    display: bool,
    /// The item(s): `{attr}` is the attribute, `{body}` the body.
    item: &'static str,
    /// How the test calls it: `{m}` is the module (`t` or `o`).
    call: &'static str,
    /// The driver that runs a call (`sync` or `async`).
    driver: &'static str,
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "sync_plain",
        result: false,
        display: true,
        item: "{attr} pub fn f(a: u64, b: String) -> u64 { {body} match crate::decide(a) { crate::Decision::Panic => panic!(\"planned\"), _ => a } }",
        call: "{m}::f(a, b)",
        driver: "sync",
    },
    Shape {
        name: "sync_result",
        result: true,
        display: false,
        item: "{attr} pub fn f(a: u64, b: String) -> Result<u64, crate::Oops> { {body} crate::finish(a) }",
        call: "{m}::f(a, b)",
        driver: "sync",
    },
    Shape {
        name: "sync_result_early",
        result: true,
        display: false,
        item: "{attr} pub fn f(a: u64, b: String) -> Result<u64, crate::Oops> { {body} if a % 8 == 4 { return Ok(a); } let v = crate::finish(a)?; Ok(v) }",
        call: "{m}::f(a, b)",
        driver: "sync",
    },
    Shape {
        name: "sync_option",
        result: false,
        display: false,
        item: "{attr} pub fn f(a: u64, b: String) -> Option<u64> { {body} crate::finish(a).ok() }",
        call: "{m}::f(a, b)",
        driver: "sync",
    },
    Shape {
        name: "method",
        result: true,
        display: false,
        item: "#[derive(Debug)] pub struct S(pub u8); impl S { {attr} pub fn f(&self, a: u64, b: String) -> Result<u64, crate::Oops> { {body} let _ = self.0; crate::finish(a) } }",
        call: "{m}::S(1).f(a, b)",
        driver: "sync",
    },
    Shape {
        name: "async_plain",
        result: false,
        display: true,
        item: "{attr} pub async fn f(a: u64, b: String) -> u64 { {body} crate::pause(a).await; match crate::decide(a) { crate::Decision::Panic => panic!(\"planned\"), _ => a } }",
        call: "{m}::f(a, b)",
        driver: "async",
    },
    Shape {
        name: "async_result",
        result: true,
        display: false,
        item: "{attr} pub async fn f(a: u64, b: String) -> Result<u64, crate::Oops> { {body} crate::pause(a).await; crate::finish(a) }",
        call: "{m}::f(a, b)",
        driver: "async",
    },
    Shape {
        name: "async_method",
        result: true,
        display: false,
        item: "#[derive(Debug)] pub struct S(pub u8); impl S { {attr} pub async fn f(&self, a: u64, b: String) -> Result<u64, crate::Oops> { {body} crate::pause(a).await; let _ = self.0; crate::finish(a) } }",
        call: "{m}::S(1).f(a, b)",
        driver: "async",
    },
    Shape {
        name: "boxed_future",
        result: true,
        display: false,
        item: "{attr} pub fn f(a: u64, b: String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, crate::Oops>> + Send>> { Box::pin(async move { {body} crate::pause(a).await; crate::finish(a) }) }",
        call: "{m}::f(a, b)",
        driver: "async",
    },
];

/// An option set: the attribute's arguments, and what it needs.
struct Options {
    name: &'static str,
    args: &'static str,
    needs_result: bool,
    needs_display: bool,
}

const OPTIONS: &[Options] = &[
    Options { name: "default", args: "", needs_result: false, needs_display: false },
    Options { name: "name", args: "name = \"renamed\"", needs_result: false, needs_display: false },
    Options { name: "positional_name", args: "\"positional\"", needs_result: false, needs_display: false },
    Options { name: "target", args: "target = \"diff_target\"", needs_result: false, needs_display: false },
    Options { name: "level", args: "level = \"debug\"", needs_result: false, needs_display: false },
    Options { name: "level_path", args: "level = tracing::Level::WARN", needs_result: false, needs_display: false },
    Options { name: "skip", args: "skip(b)", needs_result: false, needs_display: false },
    Options { name: "skip_all", args: "skip_all", needs_result: false, needs_display: false },
    Options { name: "fields", args: "fields(extra = 7, later, shown = %a, dbg = ?b)", needs_result: false, needs_display: false },
    Options { name: "fields_shorthand", args: "fields(%b, ?a)", needs_result: false, needs_display: false },
    Options { name: "fields_braced", args: "fields({crate::FIELD} = 1, {\"literal.name\"} = 2)", needs_result: false, needs_display: false },
    Options { name: "err", args: "err", needs_result: true, needs_display: false },
    Options { name: "err_debug", args: "err(Debug)", needs_result: true, needs_display: false },
    Options { name: "err_display_warn", args: "err(Display, level = \"warn\")", needs_result: true, needs_display: false },
    Options { name: "ret", args: "ret", needs_result: false, needs_display: false },
    Options { name: "ret_display_warn", args: "ret(Display, level = \"warn\")", needs_result: false, needs_display: true },
    Options { name: "err_ret", args: "err, ret(Debug)", needs_result: true, needs_display: false },
    Options {
        name: "everything",
        args: "name = \"all\", target = \"t2\", level = \"trace\", skip(a), fields(k = 1, %b), err(level = \"info\"), ret",
        needs_result: true,
        needs_display: false,
    },
];

/// What every body does first: an event inside the span, and a field
/// recorded later.
const BODY: &str = "tracing::info!(step = \"start\", len = b.len()); tracing::Span::current().record(\"later\", a % 10);";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let mut modules = String::new();
    let mut table = String::from("pub(crate) static CASES: &[Case] = &[\n");
    for shape in SHAPES {
        for options in OPTIONS {
            if (options.needs_result && !shape.result) || (options.needs_display && !shape.display)
            {
                continue;
            }
            let case = format!("{}_with_{}", shape.name, options.name);
            let twin = |attr: &str| {
                shape
                    .item
                    .replace("{attr}", &format!("#[{attr}({})]", options.args))
                    .replace("{body}", BODY)
            };
            let _ = writeln!(
                modules,
                "pub mod {case} {{\n    pub mod t {{ {} }}\n    pub mod o {{ {} }}\n}}",
                twin("tracing::instrument"),
                twin("instrument_once::instrument_once"),
            );
            let call = |m: &str| shape.call.replace("{m}", &format!("cases::{case}::{m}"));
            let run = match shape.driver {
                "sync" => format!(
                    "|a, b, side| match side {{ Side::Tracing => drive_sync(|| {}), Side::Ours => drive_sync(|| {}) }}",
                    call("t"),
                    call("o")
                ),
                _ => format!(
                    "|a, b, side| match side {{ Side::Tracing => drive_async({}), Side::Ours => drive_async({}) }}",
                    call("t"),
                    call("o")
                ),
            };
            let _ = writeln!(
                table,
                "    Case {{ name: \"{case}\", site: concat!(module_path!(), \"::cases::{case}::o::f\"), \
                 result: {}, is_async: {}, run: {run} }},",
                shape.result,
                shape.driver == "async",
            );
        }
    }
    table.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let text = format!(
        "/// One module per case, each with its twins `t` (tracing) and `o` (ours).\n\
         #[allow(dead_code, clippy::all, clippy::pedantic, unused_variables, unused_mut)]\n\
         pub(crate) mod cases {{\n{modules}}}\n\n{table}"
    );
    std::fs::write(out.join("differential_cases.rs"), text).expect("write to OUT_DIR");
}
