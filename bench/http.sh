#!/usr/bin/env bash
# HTTP benchmark: each graph server against the same work inlined in one bare axum handler,
# driven alternately with the same load in one run, at 1, 8, 32 and 128 connections.
#
#   bench/http.sh            # 5 s per run (DURATION=10 bench/http.sh for longer)
#
# Prints throughput and p50/p99 latency for both, their ratios, start-up time and peak RSS,
# writes bench/results.csv and bench/latency.svg, and ends with the line
#   ratio throughput=<thin graph/baseline @32> p50=<same, p50> real_throughput=<real @32>
#         model_throughput_8=<model @8> model_throughput_32=<model @32>
# Workloads: thin (trivial nodes), real (the example on a drawing, category plant: the
# stand-in models), model (the example on a photo, category photo: the ImageNet network).
# Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNS=(1 8 32 128)
THREADS=${THREADS:-2}
OUT=bench/results.csv
IMAGE="file://$PWD/examples/content_understanding/images/leaf.png"
PHOTO="file://$PWD/examples/content_understanding/images/coffee.png"

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

echo "building (release)" >&2
cargo build --release -q -p serve-bench --bins
cargo build --release -q -p serve-examples --example content_understanding
BIN=target/release

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
TMP=$(mktemp -d)
trap cleanup EXIT

# name -> port, command
declare -A PORT=([thin_graph]=18001 [thin_baseline]=18002 [real_graph]=18003 [real_baseline]=18004)
# The model workload is served by the real servers, with another body.
declare -A LOAD_PORT=([model_graph]=18003 [model_baseline]=18004)
for name in "${!PORT[@]}"; do LOAD_PORT[$name]=${PORT[$name]}; done
declare -A CMD=(
    [thin_graph]="$BIN/thin_graph --port 18001"
    [thin_baseline]="$BIN/thin_baseline --port 18002"
    [real_graph]="$BIN/examples/content_understanding --port 18003"
    [real_baseline]="$BIN/real_baseline --port 18004"
)
declare -A BODY=(
    [thin]='{"image_url":"http://example.invalid/cat.png","category":"plant"}'
    [real]="{\"image_url\":\"$IMAGE\",\"category\":\"plant\"}"
    [model]="{\"image_url\":\"$PHOTO\",\"category\":\"photo\"}"
)
declare -A PID

# Start-up: spawn to first 200, measured before the load runs (each server started fresh).
declare -A STARTUP
for name in thin_graph thin_baseline real_graph real_baseline; do
    body=${BODY[${name%%_*}]}
    # shellcheck disable=SC2086
    STARTUP[$name]=$($BIN/first_response "${PORT[$name]}" /classify "$body" -- ${CMD[$name]} 2>/dev/null)
done

for name in thin_graph thin_baseline real_graph real_baseline; do
    # shellcheck disable=SC2086
    RUST_LOG=warn ${CMD[$name]} 2>/dev/null &
    PID[$name]=$!
    PIDS+=("$!")
done
for name in "${!PORT[@]}"; do
    for _ in $(seq 1 200); do
        body=${BODY[${name%%_*}]}
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -d "$body" "http://127.0.0.1:${PORT[$name]}/classify" || true)
        [ "$code" = 200 ] && break
        sleep 0.05
    done
    [ "$code" = 200 ] || { echo "$name did not answer 200 (got $code)" >&2; exit 1; }
done

# wrk: POST the workload's body.
for w in thin real model; do
    printf 'wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\nwrk.body = [[%s]]\n' "${BODY[$w]}" >"$TMP/$w.lua"
done

to_ms() { # wrk prints 812.00us, 1.23ms, 2.01s
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

run() { # workload server conns -> csv row
    local w=$1 server=$2 c=$3 name="$1_$2" out
    local t=$(( c < THREADS ? c : THREADS ))
    out=$(wrk -t"$t" -c"$c" -d"${DURATION}s" --latency -s "$TMP/$w.lua" "http://127.0.0.1:${LOAD_PORT[$name]}/classify")
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    errors=$(awk '/Non-2xx/ { print $5 } /Socket errors/ { print "socket" }' <<<"$out" | tr '\n' ' ')
    echo "$w,$server,$c,$rps,$p50,$p99,${errors:-0}"
}

echo "workload,server,connections,requests_per_s,p50_ms,p99_ms,errors" >"$OUT"
declare -A RSS
for c in "${CONNS[@]}"; do
    for w in thin real model; do
        # Alternate which server goes first, so drift on the machine hits both alike.
        if (( c % 2 )); then order=(graph baseline); else order=(baseline graph); fi
        for s in "${order[@]}"; do
            row=$(run "$w" "$s" "$c")
            echo "$row" >>"$OUT"
            echo "$row" >&2
        done
    done
    if [ "$c" = 32 ]; then
        for name in thin_graph thin_baseline real_graph real_baseline; do
            RSS[$name]=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/${PID[$name]}/status")
        done
    fi
done

target/release/plot "$OUT" bench/latency.svg

field() { awk -F, -v w="$1" -v s="$2" -v c="$3" -v f="$4" '$1 == w && $2 == s && $3 == c { print $f }' "$OUT"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
printf '%-6s %6s | %12s %9s %9s | %12s %9s %9s | %6s %6s\n' workload conns "graph req/s" "p50 ms" "p99 ms" "base req/s" "p50 ms" "p99 ms" "tput" "p50"
for w in thin real model; do
    for c in "${CONNS[@]}"; do
        g_rps=$(field "$w" graph "$c" 4); b_rps=$(field "$w" baseline "$c" 4)
        g50=$(field "$w" graph "$c" 5); b50=$(field "$w" baseline "$c" 5)
        printf '%-6s %6s | %12s %9s %9s | %12s %9s %9s | %6s %6s\n' "$w" "$c" "$g_rps" "$g50" "$(field "$w" graph "$c" 6)" \
            "$b_rps" "$b50" "$(field "$w" baseline "$c" 6)" "$(ratio "$g_rps" "$b_rps")" "$(ratio "$g50" "$b50")"
    done
done
echo
echo "start-up to first 200 (ms): thin graph ${STARTUP[thin_graph]}, thin baseline ${STARTUP[thin_baseline]}, real graph ${STARTUP[real_graph]}, real baseline ${STARTUP[real_baseline]}"
echo "peak RSS after the 32-connection runs (MB): thin graph ${RSS[thin_graph]}, thin baseline ${RSS[thin_baseline]}, real graph ${RSS[real_graph]}, real baseline ${RSS[real_baseline]}"
echo "plot: bench/latency.svg, data: $OUT"
echo "ratio throughput=$(ratio "$(field thin graph 32 4)" "$(field thin baseline 32 4)") p50=$(ratio "$(field thin graph 32 5)" "$(field thin baseline 32 5)") real_throughput=$(ratio "$(field real graph 32 4)" "$(field real baseline 32 4)") model_throughput_8=$(ratio "$(field model graph 8 4)" "$(field model baseline 8 4)") model_throughput_32=$(ratio "$(field model graph 32 4)" "$(field model baseline 32 4)")"
