#!/usr/bin/env python3
"""Times one /render request through the real graphite-web (1.1.10) views,
in-process with Django's test client, over a Whisper directory.

  graphite_time.py WHISPER_DIR REPEAT TARGET [KEY=VALUE ...]

Prints one JSON object: {"times_ms": [...], "min_ms", "median_ms", "max_ms",
"status", "bytes"}. Settings as graphite_web.py (same directory) builds them;
FETCH_TIMEOUT is raised to 600 s so that wide globs are measured, not cut off.
Run it with the reference python.
"""
import json
import os
import shutil
import sys
import tempfile
import time
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from graphite_web import configure  # noqa: E402


def main():
    whisper_dir, repeat, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    params = [("target", target), ("format", "json"), ("noCache", "1")]
    params += [tuple(kv.split("=", 1)) for kv in sys.argv[4:]]
    workdir = tempfile.mkdtemp(prefix="ferrograph-graphite-time-")
    try:
        configure(whisper_dir, "UTC", workdir, {"FETCH_TIMEOUT": 600})
        from django.test import Client
        client = Client()
        path = "/render/?" + urlencode(params)
        times, status, size = [], None, 0
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            resp = client.get(path)
            body = resp.content
            times.append((time.perf_counter() - t0) * 1e3)
            status, size = resp.status_code, len(body)
        s = sorted(times)
        json.dump({"times_ms": times, "min_ms": s[0], "median_ms": s[len(s) // 2],
                   "max_ms": s[-1], "status": status, "bytes": size}, sys.stdout)
        print()
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
