"""Baseline for benches/storage_write.rs: the same workload through the
real whisper.update_many.

  whisper_bench.py DIR METRICS POINTS ROUNDS NOW
DIR holds m/<i>.wsp (created by the bench). Each round writes POINTS points
to every file with one update_many per file (what carbon-cache does).
Prints the seconds spent writing, one number.
"""
import os
import sys
import time

import whisper

root, metrics, points, rounds, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
paths = [os.path.join(root, "m", "%d.wsp" % i) for i in range(metrics)]
elapsed = 0.0
for r in range(rounds):
    base = now - 600 + r * points * 10
    batch = [(base + k * 10, float(k)) for k in range(points)]
    t0 = time.perf_counter()
    for p in paths:
        whisper.update_many(p, batch, now=now + r * points * 10)
    elapsed += time.perf_counter() - t0
print(elapsed)
