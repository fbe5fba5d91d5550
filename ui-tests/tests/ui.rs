//! Compile-pass cases for every supported form, compile-fail cases (with
//! committed `.stderr`) for every misuse. Regenerate the `.stderr` files
//! after an intended change with `TRYBUILD=overwrite cargo test -p instrument-once-ui-tests`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
