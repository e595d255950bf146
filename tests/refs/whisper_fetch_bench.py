"""Baseline for the fetch group of benches/storage_write.rs: the real
whisper.fetch on the same file and ranges.

  whisper_fetch_bench.py FILE NOW SECONDS ITERATIONS
Fetches (NOW - SECONDS, NOW] ITERATIONS times with now=NOW and prints the
seconds spent, one number.
"""
import sys
import time

import whisper

path, now, secs, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
for _ in range(iters):
    (start, end, step), values = whisper.fetch(path, now - secs, now, now=now)
elapsed = time.perf_counter() - t0
assert values, "empty fetch"
print(elapsed)
