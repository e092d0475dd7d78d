//! One test, so trybuild builds every case in one batch.

/// The `.stderr` snapshots hold rustc's own words around ours, and rustc rewords its
/// messages between releases: they are checked against the release they were written with.
const SNAPSHOT_RUSTC: &str = "1.95";

#[test]
fn ui() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !version.starts_with(&format!("rustc {SNAPSHOT_RUSTC}.")) {
        eprintln!(
            "skipped: the snapshots are for rustc {SNAPSHOT_RUSTC}, this is `{}`; \
             refresh them with TRYBUILD=overwrite on that release",
            version.trim()
        );
        return;
    }
    let t = trybuild::TestCases::new();
    t.pass("tests/deployment/pass/*.rs");
    t.pass("tests/graph/pass/*.rs");
    t.compile_fail("tests/deployment/fail/*.rs");
    t.compile_fail("tests/graph/fail/*.rs");
}
