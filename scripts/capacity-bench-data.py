#!/usr/bin/env python3
"""Writes the data set of docs/capacity-planning.md's export figures:
DIR/bench/s0000/value.wsp ... s0999, each hourly for a year up to now,
with the reference `whisper` module (run with /opt/ferrograph-refs/bin/ref-python).

    ref-python scripts/capacity-bench-data.py DIR [SERIES]
"""
import math
import os
import sys
import time

import whisper

HOUR = 3600
YEAR_HOURS = 365 * 24


def main():
    root = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    now = int(time.time()) // HOUR * HOUR
    for i in range(count):
        path = os.path.join(root, "bench", "s%04d" % i, "value.wsp")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            os.remove(path)
        whisper.create(path, [(HOUR, YEAR_HOURS + 24)], sparse=True)
        points = [
            (now - h * HOUR, 50 + i % 40 + 0.001 * (YEAR_HOURS - h) + 5 * math.sin(h / 24.0 * 2 * math.pi))
            for h in range(YEAR_HOURS)
        ]
        whisper.update_many(path, points)


if __name__ == "__main__":
    main()
