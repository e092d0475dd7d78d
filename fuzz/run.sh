#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time; exits 1 if any found a crash.
#
#   fuzz/run.sh                                  every target, 60 s each
#   FUZZ_SECONDS=300 fuzz/run.sh json_adapter    one target, 300 s
#
# Works on a stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly-only flags
# (-Zsanitizer, the sanitizer-coverage passes). AddressSanitizer is used when the toolchain
# ships its runtime, else `--sanitizer none`; FUZZ_SANITIZER=address|none overrides.
#
# New inputs go to fuzz/corpus/<target>/ (seeded from fuzz/seeds/<target>/, with
# fuzz/dicts/<target>.dict when there is one), crashes to fuzz/artifacts/<target>/, and
# libFuzzer's output to fuzz/target/fuzz-logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || {
    echo "FUZZ_SECONDS must be a whole number of seconds, got \`$seconds\`" >&2
    exit 2
}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

# Every command that may outlive a signal runs as a background job in its own process group
# (job control), so on exit, Ctrl-C or SIGTERM the whole group is stopped, fuzzer included.
set -m
child=
stop_child() {
    if [[ -n $child ]]; then
        kill -TERM -- "-$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
        child=
    fi
}
trap stop_child EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs "$@" as a stoppable job; returns its exit status.
run() {
    "$@" &
    child=$!
    local status=0
    wait "$child" || status=$?
    child=
    return "$status"
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    run cargo install cargo-fuzz --locked
fi

host=$(rustc -vV | sed -n 's/^host: //p')
sanitizer=${FUZZ_SANITIZER:-}
if [[ -z $sanitizer ]]; then
    if compgen -G "$(rustc --print sysroot)/lib/rustlib/$host/lib/librustc-*_rt.asan.a" >/dev/null; then
        sanitizer=address
    else
        sanitizer=none
    fi
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo fuzz list)
    [[ ${#targets[@]} -gt 0 ]] || {
        echo "cargo fuzz list found no targets" >&2
        exit 2
    }
    run cargo fuzz build --sanitizer "$sanitizer" --target-dir target
else
    for t in "${targets[@]}"; do
        run cargo fuzz build --sanitizer "$sanitizer" --target-dir target "$t"
    done
fi

logs=target/fuzz-logs
mkdir -p "$logs"
summaries=()
failed=0
for t in "${targets[@]}"; do
    corpus=corpus/$t
    artifacts=artifacts/$t
    log=$logs/$t.log
    mkdir -p "$corpus" "$artifacts"
    inputs=("$corpus")
    [[ -d seeds/$t ]] && inputs+=("seeds/$t")
    options=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/")
    [[ -f dicts/$t.dict ]] && options+=(-dict="dicts/$t.dict")

    echo "== $t: fuzzing for ${seconds} s (sanitizer: $sanitizer, log: fuzz/$log)"
    marker=$logs/$t.marker
    touch "$marker"
    status=0
    start=$SECONDS
    run "target/$host/release/$t" "${options[@]}" "${inputs[@]}" >"$log" 2>&1 || status=$?

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    size=$(find "$corpus" -type f | wc -l)
    mapfile -t crashes < <(find "$artifacts" -type f -newer "$marker" \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
    summary="$t: ${runs:-?} runs in $((SECONDS - start)) s, corpus ${size} inputs, ${#crashes[@]} crashes"
    if [[ ${#crashes[@]} -gt 0 || $status -ne 0 ]]; then
        failed=1
        summary+=" (exit $status; see fuzz/$log${crashes[*]:+; }${crashes[*]/#/fuzz/})"
    fi
    summaries+=("$summary")
    echo "$summary"
done

echo "== summary"
printf '%s\n' "${summaries[@]}"
if [[ $failed -ne 0 ]]; then
    echo "reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer <target> <artifact>"
    echo "minimise:  cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz tmin --sanitizer $sanitizer <target> <artifact>"
fi
exit "$failed"
