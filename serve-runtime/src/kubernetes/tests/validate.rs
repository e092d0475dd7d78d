//! Every manifest checked against Kubernetes's own schemas by `kubernetes-validate`, which
//! bundles them, so the check runs offline.

use std::path::PathBuf;
use std::process::Command;

use super::{documents, files};

/// The oldest Kubernetes the manifests are meant for, and the newest the tool knows.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];
const INSTALL: &str = "pip install kubernetes-validate==1.37.0";

#[test]
fn manifests_pass_kubernetes_validate() {
    let dir = scratch_dir();
    let mut paths = Vec::new();
    let mut expected_passes = 0;
    for (name, text) in files().iter().filter(|(n, _)| n.ends_with(".yaml")) {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        paths.push(path);
        expected_passes += documents(text).len() * KUBERNETES_VERSIONS.len();
    }
    let mut command = Command::new("kubernetes-validate");
    command.arg("--strict");
    for version in KUBERNETES_VERSIONS {
        command.args(["--kubernetes-version", version]);
    }
    let output = match command.args(&paths).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`kubernetes-validate` is not installed; install it with `{INSTALL}`")
        }
        Err(e) => panic!("could not run kubernetes-validate: {e}"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{}\n{report}", output.status);
    // The tool exits 0 on a kind or apiVersion it has no schema for, with a WARN line:
    // every document must have been checked and passed, for every version.
    let passes = report
        .lines()
        .filter(|l| l.starts_with("INFO ") && l.contains(" passed "))
        .count();
    assert_eq!(passes, expected_passes, "{report}");
    assert!(
        !report.contains("WARN") && !report.contains("ERROR"),
        "{report}"
    );
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("serve-kubernetes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
