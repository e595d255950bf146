#!/usr/bin/env bash
# A short run of every fuzz target (fuzz/fuzz_targets/) over its committed
# corpus: fails on any crash, hang or runaway allocation. The long budget
# runs and how to reproduce a crash are in docs/fuzzing.md.
#
# Needs the nightly toolchain (libFuzzer instrumentation) and cargo-fuzz,
# installed from crates.io when missing. About 4 minutes on 2 cores from a
# cold build of the fuzz crate (its own target dir, fuzz/target).
#
# Usage: scripts/fuzz-smoke.sh [seconds per target, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz-smoke: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

# One build for all targets (`cargo fuzz run` would rebuild per target); the
# dev profile (see fuzz/Cargo.toml) builds in about half the time of
# the release one used for the long runs.
cargo +nightly fuzz build --dev
bin=fuzz/target/x86_64-unknown-linux-gnu/debug

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# whisper_reader rewrites a file per input: keep that in memory when we can.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi

# As `cargo fuzz run` sets it: the bundled SQLite (rusqlite, linked through
# render-api) has same-named static arrays in one translation unit, which
# ASan would report as an ODR violation at start.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}

failed=()
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$scratch/$target/new" "$scratch/$target/artifacts" "fuzz/corpus/$target"
  # New inputs go to the scratch directory (the first one), never into the
  # committed corpus.
  if "$bin/$target" "$scratch/$target/new" "fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$scratch/$target/artifacts/" -print_final_stats=1 \
    >"$scratch/$target/log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$target/log")
    echo "fuzz-smoke: $target ok ($runs runs in ${seconds}s)"
  else
    echo "fuzz-smoke: $target FAILED; the end of its log:" >&2
    tail -n 40 "$scratch/$target/log" >&2
    for crash in "$scratch/$target/artifacts"/*; do
      [ -e "$crash" ] || continue
      echo "fuzz-smoke: input $(basename "$crash") (base64): $(base64 -w0 "$crash")" >&2
    done
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: crashes in: ${failed[*]} (reproduce: docs/fuzzing.md)" >&2
  exit 1
fi
