#!/usr/bin/env bash
# Autoscaling in real time: closed-loop clients ramp 0 -> 12 -> 0 against a deployment that
# scales from zero; writes bench/autoscaling.csv and bench/autoscaling.svg (replicas and
# latency over time). Takes about 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p serve-bench --bin autoscaling -- bench/autoscaling.csv bench/autoscaling.svg
