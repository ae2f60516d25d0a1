#!/usr/bin/env bash
# Runs a test command RUNS times in a row while another build loads every
# CPU (the workspace's host crates, rebuilt from scratch in a loop into a
# target directory of its own), then prints "N passed, N failed".
# Usage: stress-test.sh RUNS -- COMMAND...
set -uo pipefail
runs=${1:?usage: stress-test.sh RUNS -- COMMAND...}
shift
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "stress-test: no command" >&2; exit 2; }

load_dir=target/stress-load
load() {
    while :; do
        cargo clean --target-dir "$load_dir" >/dev/null 2>&1
        cargo build --locked --release --workspace --exclude axvisor --exclude qemu-boot-tests \
            --target-dir "$load_dir" >/dev/null 2>&1
    done
}
load &
load_pid=$!
trap 'kill -- -$load_pid 2>/dev/null; pkill -P $load_pid 2>/dev/null; kill $load_pid 2>/dev/null' EXIT
sleep 20  # let the load build get going

passed=0 failed=0
for i in $(seq 1 "$runs"); do
    log=target/stress-run-$i.log
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "stress-test: run $i of $runs passed"
    else
        failed=$((failed + 1))
        echo "stress-test: run $i of $runs FAILED (see $log):"
        grep -E "panicked at|expected|FAILED" "$log" | head -n 5
    fi
done
echo "stress-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
