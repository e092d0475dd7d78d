//! One test, so trybuild builds every case in one batch.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/deployment/pass/*.rs");
    t.pass("tests/graph/pass/*.rs");
    t.compile_fail("tests/deployment/fail/*.rs");
    t.compile_fail("tests/graph/fail/*.rs");
}
