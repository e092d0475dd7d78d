#!/usr/bin/env bash
# Compile-time cost of big graphs: a 200-node chain and a 200-way fan-out (with a 199-node
# reduction), each against the same crate without the graph, in one run.
#
#   bench/compile.sh
#
# Prints the macro's own expansion time (from SERVE_MACROS_TIMING) and the median of three
# `cargo build` runs of each variant after a touch (dependencies already built).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-200}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/Cargo.toml" <<TOML
[package]
name = "compile-bench"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
serve-runtime = { path = "$ROOT/serve-runtime" }
tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
[workspace]
TOML
mkdir -p "$WORK/src"

nodes() { # variant -> graph source
    echo 'use serve_runtime::{deployment, graph};'
    echo '#[deployment] async fn step(x: u64) -> u64 { x.wrapping_add(1) }'
    echo '#[deployment] async fn add(a: u64, b: u64) -> u64 { a.wrapping_add(b) }'
    case $1 in
    none)
        echo 'fn main() {}'
        ;;
    chain)
        echo '#[graph] async fn big(x: u64) -> u64 {'
        echo '    let v0 = step(x);'
        for i in $(seq 1 $((N - 1))); do echo "    let v$i = step(v$((i - 1)));"; done
        echo "    v$((N - 1))"
        echo '}'
        echo 'fn main() { let _ = big::spec(); }'
        ;;
    fan_out)
        echo '#[graph] async fn big(x: u64) -> u64 {'
        for i in $(seq 0 $((N - 1))); do echo "    let a$i = step(x);"; done
        echo '    let s1 = add(a0, a1);'
        for i in $(seq 2 $((N - 1))); do echo "    let s$i = add(s$((i - 1)), a$i);"; done
        echo "    s$((N - 1))"
        echo '}'
        echo 'fn main() { let _ = big::spec(); }'
        ;;
    esac
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

cd "$WORK"
nodes none >src/main.rs
cargo build -q 2>/dev/null # dependencies, once
for variant in none chain fan_out; do
    nodes "$variant" >src/main.rs
    times=()
    expand=""
    for _ in 1 2 3; do
        touch src/main.rs
        start=$(date +%s%N)
        out=$(SERVE_MACROS_TIMING=1 cargo build 2>&1) || { echo "$out" >&2; exit 1; }
        times+=($(( ($(date +%s%N) - start) / 1000000 )))
        expand=$(grep -o 'big expanded in [0-9]* us' <<<"$out" | head -1 | grep -o '[0-9]* us' || true)
    done
    build=$(printf '%s\n' "${times[@]}" | median)
    echo "$variant: cargo build ${build} ms (median of 3)${expand:+, #[graph] expansion $expand}"
done
