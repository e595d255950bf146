#!/usr/bin/env bash
# The long runs behind docs/fuzzing.md's table: each target (all by
# default) for RUNS executions (default 10M), one after the other, growing
# the committed corpus; prints one table row per target. Afterwards
# minimize each corpus (`cargo +nightly fuzz cmin <target>`) before
# committing it.
#
# Usage: fuzz/budget.sh [target...]   (RUNS=... to change the budget)
set -euo pipefail
cd "$(dirname "$0")"
runs=${RUNS:-10000000}
cargo +nightly fuzz build
bin=target/x86_64-unknown-linux-gnu/release
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
# whisper_reader rewrites a file per input: keep that in memory when we can.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
# Cheaper ASan bookkeeping: no allocation stack traces, no fake stacks.
# detect_odr_violation=0 as `cargo fuzz run` sets it: the bundled SQLite
# (rusqlite, linked through render-api) has same-named static arrays in one
# translation unit, which ASan reports as an ODR violation at start.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:malloc_context_size=0:detect_stack_use_after_return=0:quarantine_size_mb=16}

# Longest input per target: enough for its grammar, short enough to keep
# executions cheap (a line parser gains nothing from 4 KB lines).
max_len() {
  case $1 in
    render_time) echo 128 ;;
    carbon_plaintext) echo 256 ;;
    statsd_line) echo 512 ;;
    carbon_pickle) echo 2048 ;;
    *) echo 1024 ;;
  esac
}

mkdir -p logs
echo "| target | executions | exec/s | time | corpus (files, bytes) | crashes |"
echo "| --- | --- | --- | --- | --- | --- |"
for t in "${targets[@]}"; do
  mkdir -p "artifacts/$t"
  start=$(date +%s)
  rc=0
  "$bin/$t" "corpus/$t" -runs="$runs" -max_len="$(max_len "$t")" -timeout="${TIMEOUT:-10}" \
    -rss_limit_mb=2048 -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
    >"logs/$t.log" 2>&1 || rc=$?
  secs=$(($(date +%s) - start))
  done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "logs/$t.log")
  files=$(find "corpus/$t" -type f | wc -l)
  bytes=$(find "corpus/$t" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  crashes=$([ "$rc" = 0 ] && echo 0 || echo "stopped (rc $rc): see fuzz/logs/$t.log")
  echo "| $t | $done_runs | $rate | ${secs} s | $files, $bytes | $crashes |"
done
