#!/usr/bin/env python3
"""Baseline for benches/render_graphs.rs: graphite-web 1.1.10 rendering one
/render request (its Django view, cairo via cairocffi) over a Whisper tree.

  graphite_render_bench.py WHISPER_DIR QUERY ITERATIONS
Django starts once (not timed); the request (QUERY: the URL query string)
is then answered ITERATIONS times and the seconds spent are printed, one
number. Reuses graphite_web.py's in-memory settings.
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from graphite_web import configure  # noqa: E402


def main():
    whisper_dir, query, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
    workdir = tempfile.mkdtemp(prefix="ferrograph-graphite-bench-")
    try:
        configure(whisper_dir, "UTC", workdir, {})
        from django.test import Client
        client = Client()
        resp = client.get("/render/?" + query)
        assert resp.status_code == 200 and resp.content[:4] == b"\x89PNG", resp.status_code
        t0 = time.perf_counter()
        for _ in range(iters):
            client.get("/render/?" + query)
        print(time.perf_counter() - t0)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
