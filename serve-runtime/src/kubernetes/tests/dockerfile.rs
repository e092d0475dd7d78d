//! The Dockerfile builds the cluster's binary and runs it as the Deployments expect.

use super::{cluster, text};
use crate::kubernetes::{Cluster, render};

#[test]
fn the_dockerfile_builds_the_example_or_the_bin() {
    let example = text("Dockerfile");
    assert!(example.starts_with("# syntax=docker/dockerfile:1\n"));
    for line in [
        "FROM rust:1-bookworm AS build",
        "    cargo build --release --locked --example content_understanding \\",
        "    && cp target/release/examples/content_understanding /content_understanding",
        "FROM debian:bookworm-slim",
        "USER 10001",
        "EXPOSE 8000",
        r#"ENTRYPOINT ["/usr/local/bin/content_understanding"]"#,
        r#"CMD ["serve", "--config", "/etc/serve/serve.yaml", "--host", "0.0.0.0", "--port", "8000"]"#,
    ] {
        assert!(example.lines().any(|l| l == line), "{line}\n{example}");
    }
    let bin = render(&Cluster {
        example: false,
        ..cluster()
    });
    let bin = &bin.iter().find(|(n, _)| n == "Dockerfile").unwrap().1;
    assert!(bin.contains("--locked --bin content_understanding"));
    assert!(bin.contains("&& cp target/release/content_understanding /"));
}
