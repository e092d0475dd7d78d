//! The image every process runs: the binary built in a Rust image, then copied alone into
//! a slim Debian of the same release (so the glibc it was linked against is there).

use super::{CONFIG_DIR, CONFIG_FILE, Cluster};

/// The numeric user the binary runs as; numeric so `runAsNonRoot` can be checked.
pub(super) const USER_ID: u32 = 10001;

pub(super) fn dockerfile(cluster: &Cluster) -> String {
    let binary = &cluster.binary;
    let (target, built) = if cluster.example {
        ("--example", format!("target/release/examples/{binary}"))
    } else {
        ("--bin", format!("target/release/{binary}"))
    };
    let port = cluster.port;
    // The syntax line must come first: it is a parser directive, not a comment.
    format!(
        r#"# syntax=docker/dockerfile:1
# Made by `{binary} build --target kubernetes`. Build from the workspace's root, with
# DIR the folder of this file:
#   docker build -f DIR/Dockerfile -t {image} .
# and push the image where the cluster pulls from, under the name the Deployments run.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Crates and compiled dependencies are cached between builds; the target directory is a
# cache mount, not a layer, so the binary is copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked {target} {binary} \
    && cp {built} /{binary}

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid {USER_ID} --no-create-home serve
COPY --from=build /{binary} /usr/local/bin/{binary}
# Files the binary reads at run time (weights, label lists) are not copied by default: add
# them here, at the path the binary looks for them, e.g.
#   COPY --from=build /src/models /src/models
USER {USER_ID}
EXPOSE {port}
ENTRYPOINT ["/usr/local/bin/{binary}"]
CMD ["serve", "--config", "{CONFIG_DIR}/{CONFIG_FILE}", "--host", "0.0.0.0", "--port", "{port}"]
"#,
        image = cluster.image,
    )
}

/// What the build leaves out of its context: with `-f DIR/Dockerfile`, BuildKit reads
/// `DIR/Dockerfile.dockerignore`. A workspace's `target/` is often gigabytes.
pub(super) fn ignore() -> &'static str {
    "target/\n.git/\n"
}
