#!/usr/bin/env bash
# CPU benchmark: thread replicas doing real work (a fixed number of rounds of a hash chain,
# about 30 ms a call; no sleeps, no time-bounded spinning).
#
#   bench/cpu.sh            # ROUNDS, REQUESTS, DURATION, CONNS, PROBES to change the defaults
#
# In-process (target/release/cpu):
#   parallel_speedup  median time of 3 nodes' work done serially on one thread / median time
#                     of one request of a graph fanning out to the same 3 nodes, each a
#                     thread deployment (num_cpus = 0.5)
#   replica_scaling   requests/s with 8 concurrent callers of a graph whose bottleneck is one
#                     thread deployment (num_cpus = 1, max_ongoing_requests = 1) at 2
#                     replicas / the same at 1 replica
# Served (target/release/cpu_server, loaded by wrk over loopback):
#   healthz_p99_ms    p99 of GET /-/healthz from a sequential prober (target/release/
#                     healthz_probe, a new connection per probe) while wrk keeps both
#                     replicas, one core each, busy
# Prints a table, with the cores the measured code used and those everything else on the
# machine used meanwhile (to tell a slow figure from a busy machine), and ends with the line
#   cpu parallel_speedup=<x.xx> replica_scaling=<x.xx> healthz_p99_ms=<x.xx>
# Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-15}
DURATION=${DURATION:-4}
CONNS=${CONNS:-8}
PROBES=${PROBES:-200}
PAUSE_MS=10
PORT=18011
BIN=target/release

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

echo "building (release)" >&2
cargo build --release -q -p serve-bench --bin cpu --bin cpu_server --bin healthz_probe

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
TMP=$(mktemp -d)
trap cleanup EXIT

value() { awk -F= -v k="$1" '$1 == k { print $2 }' "$2"; }

# ---- in-process: parallel speedup and replica scaling ------------------------------------
echo "in-process: fan-out vs serial, then 1 vs 2 replicas (${DURATION} s each)" >&2
# Without ROUNDS the binary uses its calibrated default, and says which.
$BIN/cpu "$REQUESTS" "$DURATION" ${ROUNDS:+"$ROUNDS"} >"$TMP/cpu.txt"
ROUNDS=$(value rounds "$TMP/cpu.txt")

# ---- served: healthz latency while every core runs node code -----------------------------
RUST_LOG=warn $BIN/cpu_server --port "$PORT" 2>/dev/null &
SERVER=$!
PIDS+=("$SERVER")
code=000
for _ in $(seq 1 200); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/-/healthz" || true)
    [ "$code" = 200 ] && break
    sleep 0.05
done
[ "$code" = 200 ] || { echo "cpu_server did not become healthy (got $code)" >&2; exit 1; }

BODY="{\"rounds\":$ROUNDS,\"seed\":1}"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -d "$BODY" "http://127.0.0.1:$PORT/crunch")
[ "$code" = 200 ] || { echo "POST /crunch answered $code" >&2; exit 1; }
printf 'wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\nwrk.body = [[%s]]\n' "$BODY" >"$TMP/post.lua"

# CPU time (clock ticks) of the server's replica threads, named Worker#<id>.
replica_ticks() {
    local total=0 task
    for task in /proc/"$SERVER"/task/*; do
        case $(cat "$task/comm" 2>/dev/null) in
            Worker#*) total=$(( total + $(sed 's/^.*) //' "$task/stat" | awk '{ print $12 + $13 }') )) ;;
        esac
    done
    echo "$total"
}

# Busy CPU time of the whole machine (clock ticks): all but idle and iowait.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# The load runs longer than the probes need (PROBES x (PAUSE_MS + latency), plus a second to
# fill the queues); it is checked to be still running when the last probe is answered.
LOAD_S=$(( 2 + PROBES * (PAUSE_MS + 20) / 1000 ))
echo "served: wrk -c$CONNS for ${LOAD_S} s, $PROBES healthz probes meanwhile" >&2
wrk -t1 -c"$CONNS" -d"${LOAD_S}s" --latency -s "$TMP/post.lua" "http://127.0.0.1:$PORT/crunch" >"$TMP/wrk.txt" &
WRK=$!
PIDS+=("$WRK")
sleep 1
ticks_before=$(replica_ticks)
machine_before=$(machine_ticks)
probe_started=$(date +%s.%N)
$BIN/healthz_probe "$PORT" "$PROBES" "$PAUSE_MS" >"$TMP/probe.txt"
probe_ended=$(date +%s.%N)
ticks_after=$(replica_ticks)
machine_after=$(machine_ticks)
if ! kill -0 "$WRK" 2>/dev/null; then
    echo "the load ended before the last probe: raise LOAD_S" >&2
    exit 1
fi
wait "$WRK"

cores() { # ticks -> cores busy over the probes
    awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v a="$probe_started" -v b="$probe_ended" 'BEGIN { printf "%.2f", t / hz / (b - a) }'
}
REPLICA_CORES=$(cores $(( ticks_after - ticks_before )))
OTHER_CORES=$(cores $(( machine_after - machine_before - (ticks_after - ticks_before) )))
WRK_RPS=$(awk '/^Requests\/sec/ { print $2 }' "$TMP/wrk.txt")
WRK_P50=$(awk '$1 == "50%" { print $2 }' "$TMP/wrk.txt")
WRK_ERRORS=$(awk '/Non-2xx/ { print $5 } /Socket errors/ { print "socket errors" }' "$TMP/wrk.txt" | tr '\n' ' ')

# ---- report ------------------------------------------------------------------------------
c() { value "$1" "$TMP/cpu.txt"; }
p() { value "$1" "$TMP/probe.txt"; }
echo
# Cores busy meanwhile: "ours" is the measured code (the cpu process's threads in-process;
# the server's replica threads for the healthz row), "other" is everything else on the
# machine (for the healthz row: the server's own threads, wrk, the prober and any
# unrelated load). A busy machine shows there before it shows in the figures.
row() { printf '%-48s %-34s %5s %6s\n' "$@"; }
row "measure" "result" "ours" "other"
row "one node call ($ROUNDS rounds), one thread" "$(c call_ms) ms" "" ""
row "3 nodes serially, one thread (median of $REQUESTS)" "$(c serial_ms) ms" "" ""
row "graph: 3-way fan-out, thread replicas (median)" "$(c fan_out_ms) ms" "$(c speedup_cores)" "$(c speedup_other_cores)"
row "  parallel speedup" "$(c parallel_speedup)x" "" ""
row "bottleneck, 1 replica, $(c callers) in-process callers" "$(c rps_1) req/s" "$(c rps_1_cores)" "$(c rps_1_other_cores)"
row "bottleneck, 2 replicas, $(c callers) in-process callers" "$(c rps_2) req/s" "$(c rps_2_cores)" "$(c rps_2_other_cores)"
row "  replica scaling" "$(c replica_scaling)x" "" ""
row "served, 2 replicas, wrk -c$CONNS" "$WRK_RPS req/s, p50 $WRK_P50" "" ""
row "GET /-/healthz, $PROBES sequential probes (ms)" "p50 $(p p50_ms) p99 $(p p99_ms) max $(p max_ms)" "$REPLICA_CORES" "$OTHER_CORES"
[ -z "$WRK_ERRORS" ] || echo "wrk: $WRK_ERRORS" >&2
echo
echo "cpu parallel_speedup=$(c parallel_speedup) replica_scaling=$(c replica_scaling) healthz_p99_ms=$(p p99_ms)"
