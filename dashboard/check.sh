#!/usr/bin/env bash
# The dashboard in a real browser: starts the example, sends it traffic, opens
# /-/dashboard in headless Chromium, and checks that every deployment of the example is
# drawn and that the page filled in live figures from /-/dashboard/data. Saves the
# rendered page as a screenshot.
#
#   dashboard/check.sh                  # screenshot to dashboard/screenshot.png
#   SCREENSHOT=out.png dashboard/check.sh
#
# Installs Debian's `chromium` when it is missing. Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18700}
SCREENSHOT=${SCREENSHOT:-dashboard/screenshot.png}
URL="http://127.0.0.1:$PORT"
IMAGE="file://$PWD/examples/content_understanding/images/leaf.png"
BODY="{\"image_url\":\"$IMAGE\",\"category\":\"plant\"}"

if ! command -v chromium >/dev/null; then
    echo "installing chromium" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

cargo build -q --example content_understanding
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

target/debug/examples/content_understanding --port "$PORT" 2>"$TMP/server.log" &
PIDS+=($!)
for _ in $(seq 100); do
    curl -sf "$URL/-/healthz" >/dev/null && break
    sleep 0.1
done
curl -sf "$URL/-/healthz" >/dev/null || { cat "$TMP/server.log" >&2; echo "the example did not start" >&2; exit 1; }

# Steady traffic for the whole check; the sampler gets a first snapshot now, so the
# page's first refresh already has a window to compute rates over.
(
    while true; do
        curl -s -o /dev/null -X POST "$URL/classify" -H 'content-type: application/json' -d "$BODY" || true
    done
) &
PIDS+=($!)
curl -sf "$URL/-/dashboard/data" >/dev/null
sleep 2

browse() {
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --virtual-time-budget=3000 "$@" "$URL/-/dashboard" 2>>"$TMP/chromium.log"
}
browse --dump-dom >"$TMP/dom.html"
browse --window-size=1600,1150 --screenshot="$SCREENSHOT" >/dev/null

fail() { echo "dashboard check failed: $*" >&2; exit 1; }
grep -q 'data-live="ok"' "$TMP/dom.html" || fail "the page never refreshed its figures (see $TMP/chromium.log)"
DEPLOYMENTS=$(curl -sf "$URL/-/status" | grep -o '"name":"[^"]*","executor"' | sed 's/"name":"\([^"]*\)".*/\1/')
[ -n "$DEPLOYMENTS" ] || fail "the server listed no deployments"
for d in $DEPLOYMENTS; do
    grep -q "data-deployment=\"$d\"" "$TMP/dom.html" || fail "deployment $d is not drawn"
    # Its row in the table, with its replicas filled in by the script.
    grep -Eq "data-key=\"g0/$d/replicas\">[0-9]+/[0-9]+<" "$TMP/dom.html" || fail "deployment $d has no live replica count"
done
grep -Eq 'data-key="g0/Downloader/requests">[1-9][0-9]*<' "$TMP/dom.html" || fail "no request was counted for Downloader"
grep -Eq 'data-key="g0//rps">[0-9]+\.[0-9]<' "$TMP/dom.html" || fail "the route's rate was not filled in"
[ -s "$SCREENSHOT" ] || fail "no screenshot was written"
echo "dashboard check passed: $(echo "$DEPLOYMENTS" | wc -w) deployments drawn with live figures; screenshot in $SCREENSHOT"
