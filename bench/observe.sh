#!/usr/bin/env bash
# What observability costs on the hot path: the thin graph as it is now (metrics, request
# ids, DEBUG spans off), the same with a subscriber taking the spans, and the thin graph
# built from BASE (a commit before any of it), each against the same work inlined in one
# bare axum handler, all driven alternately in one run at 32 connections.
#
#   bench/observe.sh                      # BASE defaults to the last commit without it
#   BASE=<rev> ROUNDS=5 DURATION=10 bench/observe.sh
#
# Prints the median requests/s of each over ROUNDS runs and its ratio to the baseline's
# median, and the cost of each relative to BASE.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BASE:-b216c87}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
BODY='{"image_url":"http://example.invalid/cat.png","category":"plant"}'

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    git worktree remove --force "$TMP/base" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "building $BASE and the work tree (release)" >&2
git worktree add -q --detach "$TMP/base" "$BASE"
# A target directory of its own: the two trees' crates have the same names and hashes,
# so in one directory each build would overwrite the other's proc-macro and the next
# build of either would use the wrong one. It is kept, so later runs reuse its deps.
(cd "$TMP/base" && CARGO_TARGET_DIR="$OLDPWD/target/observe-base" cargo build --release -q -p serve-bench --bin thin_graph)
cp target/observe-base/release/thin_graph "$TMP/thin_graph_base"
cargo build --release -q -p serve-bench --bin thin_graph --bin thin_baseline

declare -A PORT=([baseline]=18101 [base]=18102 [now]=18103 [spans]=18104)
declare -A CMD=(
    [baseline]="target/release/thin_baseline --port 18101"
    [base]="$TMP/thin_graph_base --port 18102"
    [now]="target/release/thin_graph --port 18103"
    [spans]="env SERVE_BENCH_SPANS=1 target/release/thin_graph --port 18104"
)
for name in baseline base now spans; do
    # shellcheck disable=SC2086
    RUST_LOG=warn ${CMD[$name]} 2>/dev/null &
    PIDS+=("$!")
done
for name in baseline base now spans; do
    for _ in $(seq 1 200); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -d "$BODY" "http://127.0.0.1:${PORT[$name]}/classify" || true)
        [ "$code" = 200 ] && break
        sleep 0.05
    done
    [ "$code" = 200 ] || { echo "$name did not answer 200 (got $code)" >&2; exit 1; }
done
printf 'wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\nwrk.body = [[%s]]\n' "$BODY" >"$TMP/post.lua"

declare -A RPS
order=(baseline base now spans)
for round in $(seq 1 "$ROUNDS"); do
    for name in "${order[@]}"; do
        rps=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$TMP/post.lua" "http://127.0.0.1:${PORT[$name]}/classify" | awk '/^Requests\/sec/ { print $2 }')
        RPS[$name]="${RPS[$name]:-} $rps"
        echo "round $round: $name $rps req/s" >&2
    done
    # Rotate, so no server always runs first.
    order=("${order[@]:1}" "${order[0]}")
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
B=$(median "${RPS[baseline]}")
echo
printf '%-34s %12s %10s %12s\n' "server ($CONNS connections)" "median req/s" "/ baseline" "/ $BASE"
for name in baseline base now spans; do
    m=$(median "${RPS[$name]}")
    printf '%-34s %12.0f %10s %12s\n' "$name" "$m" "$(ratio "$m" "$B")" "$(ratio "$m" "$(median "${RPS[base]}")")"
done
echo "ratio metrics=$(ratio "$(median "${RPS[now]}")" "$(median "${RPS[base]}")") spans=$(ratio "$(median "${RPS[spans]}")" "$(median "${RPS[base]}")")"
