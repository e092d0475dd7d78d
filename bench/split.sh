#!/usr/bin/env bash
# The thin graph split into one process per deployment (`serve --deployments NAME`, each
# deployment's `address` in the config), against the same binary serving it in one
# process, driven alternately with the same load at 1, 8 and 32 connections; then one hop
# to another process, timed alone (bench/src/bin/remote_hop.rs).
#
#   bench/split.sh            # 5 s per run (DURATION=10 bench/split.sh for longer)
#
# Prints throughput and p50/p99 for both and their ratios, the resident memory of every
# process, and the hop's p50/p99. Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNS=(1 8 32)
THREADS=${THREADS:-2}
BODY='{"image_url":"http://example.invalid/cat.png","category":"plant"}'
DEPLOYMENTS=(downloader preprocessor segmentation integrity_check Fruit Car Plant General Dispatcher aggregator)

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
echo "building (release)" >&2
cargo build --release -q -p serve-bench --bin thin_split --bin remote_hop
BIN=target/release/thin_split

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
TMP=$(mktemp -d)
trap cleanup EXIT

ONE=18099
INGRESS=18100
{
    echo "applications:"
    echo "  - name: thin"
    echo "    deployments:"
    port=$((INGRESS + 1))
    for d in "${DEPLOYMENTS[@]}"; do
        echo "      - name: $d"
        echo "        address: http://127.0.0.1:$port"
        port=$((port + 1))
    done
} >"$TMP/split.yaml"

declare -A PID
start() { # name, args...
    local name=$1; shift
    RUST_LOG=warn "$BIN" serve "$@" 2>/dev/null &
    PID[$name]=$!
    PIDS+=("$!")
}
start one --port "$ONE"
port=$((INGRESS + 1))
for d in "${DEPLOYMENTS[@]}"; do
    start "$d" --config "$TMP/split.yaml" --deployments "$d" --port "$port"
    port=$((port + 1))
done
start ingress --config "$TMP/split.yaml" --port "$INGRESS"

for p in "$ONE" "$INGRESS"; do
    for _ in $(seq 1 200); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -d "$BODY" "http://127.0.0.1:$p/classify" || true)
        [ "$code" = 200 ] && break
        sleep 0.05
    done
    [ "$code" = 200 ] || { echo "port $p did not answer 200 (got $code)" >&2; exit 1; }
done

printf 'wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\nwrk.body = [[%s]]\n' "$BODY" >"$TMP/post.lua"
to_ms() { # wrk prints 812.00us, 1.23ms, 2.01s
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
declare -A RPS P50 P99
run() { # which port conns
    local which=$1 port=$2 c=$3 out
    local t=$(( c < THREADS ? c : THREADS ))
    out=$(wrk -t"$t" -c"$c" -d"${DURATION}s" --latency -s "$TMP/post.lua" "http://127.0.0.1:$port/classify")
    if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
        echo "errors in the $which run at $c connections:" >&2
        echo "$out" >&2
    fi
    RPS[$which,$c]=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
    P50[$which,$c]=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    P99[$which,$c]=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    echo "$which $c: ${RPS[$which,$c]} req/s, p50 ${P50[$which,$c]} ms" >&2
}
for c in "${CONNS[@]}"; do
    if (( c % 2 )); then order=(one split); else order=(split one); fi
    for which in "${order[@]}"; do
        if [ "$which" = one ]; then run one "$ONE" "$c"; else run split "$INGRESS" "$c"; fi
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

echo
printf '%6s | %12s %9s %9s | %12s %9s %9s | %6s %6s\n' conns "split req/s" "p50 ms" "p99 ms" "one req/s" "p50 ms" "p99 ms" "tput" "p50"
for c in "${CONNS[@]}"; do
    printf '%6s | %12s %9s %9s | %12s %9s %9s | %6s %6s\n' "$c" "${RPS[split,$c]}" "${P50[split,$c]}" "${P99[split,$c]}" \
        "${RPS[one,$c]}" "${P50[one,$c]}" "${P99[one,$c]}" "$(ratio "${RPS[split,$c]}" "${RPS[one,$c]}")" "$(ratio "${P50[split,$c]}" "${P50[one,$c]}")"
done
echo
total=0
line="resident memory after the runs (MB): one process $(rss "${PID[one]}"); split:"
for name in ingress "${DEPLOYMENTS[@]}"; do
    m=$(rss "${PID[$name]}")
    total=$(awk -v a="$total" -v b="$m" 'BEGIN { printf "%.1f", a + b }')
    line+=" $name $m,"
done
echo "$line total $total"
echo
target/release/remote_hop
