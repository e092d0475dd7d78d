#!/usr/bin/env bash
# Instructions per request, in-process, counted by callgrind (repeatable whatever else the
# machine is doing): the thin graph against the same work inline, and the top functions.
#
#   bench/profile.sh          # N=20000 requests each
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
cargo build --release -q -p serve-bench --bin profile
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
count() { valgrind --tool=callgrind --callgrind-out-file="$OUT/$1.$2" target/release/profile "$1" "$2" 2>&1 | awk '/Collected/ { print $4 }'; }
for mode in inline graph; do
    total=$(count "$mode" "$N")
    empty=$(count "$mode" 0)
    echo "$mode: $(( (total - empty) / N )) instructions per request"
done
echo
echo "top functions, graph:"
callgrind_annotate "$OUT/graph.$N" 2>/dev/null | awk '/file:function/ { on = 1; getline; next } on && NF { print } on && ++n > 12 { exit }' | cut -c1-150
