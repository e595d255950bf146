#!/usr/bin/env bash
# Times `/render?target=sumSeries(a.*)&from=-1d` over COUNT Whisper files of
# one day at 10 s (8640 points each): ferrograph web against graphite-web
# 1.1.10 on the same files, in the same run, loopback only, bounded repeats.
#
#   scripts/render-bench.sh [COUNT=1000] [REPEAT=5] [GRAPHITE_REPEAT=REPEAT]
#
# The files are written once with the real whisper module
# (tests/refs/whisper_fixture.py bench) under $BENCH_DIR (default
# ${TMPDIR:-/tmp}/ferrograph-render-bench-COUNT); above 1000 series the
# first 1000 files are copied under new names (same timing, less setup).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-1000}"
REPEAT="${2:-5}"
GRAPHITE_REPEAT="${3:-$REPEAT}"
# shellcheck source=scripts/refs-dir.sh
. scripts/refs-dir.sh
REFS="$FERROGRAPH_REFS"
PY="$REFS/bin/ref-python"
NOW=1700000000
DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/ferrograph-render-bench-$COUNT}"
TARGET='sumSeries(a.*)'

if [ ! -f "$DIR/.complete" ]; then
  mkdir -p "$DIR"
  base=$(( COUNT < 1000 ? COUNT : 1000 ))
  "$PY" tests/refs/whisper_fixture.py "$DIR" bench --now "$NOW" --count "$base" >/dev/null
  for (( m = base; m < COUNT; m++ )); do
    cp "$DIR/a/m$(printf %04d $(( m % base ))).wsp" "$DIR/a/m$(printf %04d "$m").wsp"
  done
  touch "$DIR/.complete"
fi

cargo build --release --quiet --bin ferrograph
out=$(mktemp)
./target/release/ferrograph web --data-dir "$DIR" --http 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
addr=$(sed -n 's/.*http:\/\///p' "$out" | head -1)
url="http://$addr/render?target=sumSeries(a.*)&from=-1d&now=$NOW&format=json"
ours=()
for _ in $(seq "$REPEAT"); do
  ours+=("$(curl -s -o /dev/null -w '%{time_total}' "$url")")
done
rss_kb=$(ps -o rss= -p "$pid" | tr -d ' ')
theirs=$("$PY" tests/refs/graphite_time.py "$DIR" "$GRAPHITE_REPEAT" "$TARGET" from=-1d now=$NOW)
python3 - "$COUNT" "$rss_kb" "$theirs" "${ours[@]}" <<'PYEOF'
import json, sys
count, rss, theirs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
ours = sorted(float(t) * 1000 for t in sys.argv[4:])
med = ours[len(ours) // 2]
print(f"sumSeries over {count} series x 8640 points, {len(ours)} requests each")
print(f"  ferrograph web: min {ours[0]:.1f} ms, median {med:.1f} ms, max {ours[-1]:.1f} ms, RSS after {rss/1024:.1f} MiB")
print(f"  graphite-web:   min {theirs['min_ms']:.1f} ms, median {theirs['median_ms']:.1f} ms, max {theirs['max_ms']:.1f} ms (status {theirs['status']})")
print(f"  ratio of medians: {theirs['median_ms'] / med:.1f}x")
PYEOF
