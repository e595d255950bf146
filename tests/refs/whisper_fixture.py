#!/usr/bin/env python3
"""Writes deterministic Whisper trees with the real whisper module, for the
render differential tests. Run with the reference python.

  whisper_fixture.py OUTDIR sample [--now EPOCH]
  whisper_fixture.py OUTDIR rich   [--now EPOCH]
  whisper_fixture.py OUTDIR bench  [--now EPOCH] [--count N]

sample (retention 10s:1h,1m:1d, 360 points of 10 s ending at NOW):
  a.b = i % 10; a.c = 2*i, missing when i % 7 == 3; a.d = 100.5; x.y.z = i/4
rich = sample plus
  steps.s10 (10s:1d) = i;  steps.s60 (60s:7d) = 3*i, one point per minute
  gaps.sparse (10s:1h,1m:1d): only every 5th point, value i - 100 (negatives)
  gaps.empty: created, never written
  counters.wrap (10s:1h,1m:1d, sum): monotonic counter that resets to 0
      every 50 points (i % 50 * 7)
  hosts.{web1,web2,db1}.cpu.{user,system} (10s:1h,1m:1d): distinct values
  tagged series, in graphite-web 1.1's on-disk layout (graphite's own
  TaggedSeries.encode): disk.used;dc=eu;host=h1, disk.used;dc=eu;host=h2,
      disk.used;dc=us;host=h3, cpu.load;dc=eu;host=h1
  Prints the tagged names, one per line after "tagged:", so the caller can
  register them in graphite-web's tag DB (POST /tags/tagMultiSeries).
bench: a.m0000.. (10s:1d), 8640 points each = (i + m) % 100, a sawtooth
  swinging over the whole plot every ~9 px (the rasteriser's worst case)
bench --shape daily: d.m0000.. (10s:1d), 8640 points each: a day's wave
  50 + 30 sin(2 pi i / 8640 + m) plus noise of +-5 (a fixed pseudo-random
  sequence): a dashboard's typical line
"""
import argparse
import math
import os
import sys

import whisper


def path_for(outdir, metric):
    if ";" in metric:
        from graphite.tags.utils import TaggedSeries
        from django.conf import settings  # noqa: F401  (encode reads no settings)
        rel = TaggedSeries.encode(metric, os.sep)
        p = os.path.join(outdir, rel) + ".wsp"
    else:
        p = os.path.join(outdir, *metric.split(".")) + ".wsp"
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def create(outdir, metric, retention, points, now, agg="average", xff=0.0):
    p = path_for(outdir, metric)
    if os.path.exists(p):
        os.remove(p)
    archives = [whisper.parseRetentionDef(r) for r in retention.split(",")]
    whisper.create(p, archives, xFilesFactor=xff, aggregationMethod=agg)
    for k in range(0, len(points), 10000):
        whisper.update_many(p, points[k:k + 10000], now=now)
    return p


def grid(now, n, step):
    first = now - (n - 1) * step
    first -= first % step
    return [first + step * i for i in range(n)]


def sample(outdir, now):
    ret = "10s:1h,1m:1d"
    ts = grid(now, 360, 10)
    create(outdir, "a.b", ret, [(t, float(i % 10)) for i, t in enumerate(ts)], now, xff=0.5)
    create(outdir, "a.c", ret, [(t, float(2 * i)) for i, t in enumerate(ts) if i % 7 != 3],
           now, xff=0.5)
    create(outdir, "a.d", ret, [(t, 100.5) for t in ts], now, xff=0.5)
    create(outdir, "x.y.z", ret, [(t, i * 0.25) for i, t in enumerate(ts)], now, xff=0.5)


def rich(outdir, now):
    sample(outdir, now)
    ret = "10s:1h,1m:1d"
    ts = grid(now, 360, 10)
    ts_day = grid(now, 8640, 10)
    create(outdir, "steps.s10", "10s:1d", [(t, float(i)) for i, t in enumerate(ts_day)], now)
    ts_min = grid(now, 1440, 60)
    create(outdir, "steps.s60", "60s:7d", [(t, 3.0 * i) for i, t in enumerate(ts_min)], now)
    create(outdir, "gaps.sparse", ret,
           [(t, float(i - 100)) for i, t in enumerate(ts) if i % 5 == 0], now)
    create(outdir, "gaps.empty", ret, [], now)
    create(outdir, "counters.wrap", ret, [(t, float(i % 50 * 7)) for i, t in enumerate(ts)],
           now, agg="sum")
    for h, host in enumerate(["web1", "web2", "db1"]):
        for k, kind in enumerate(["user", "system"]):
            vals = [(t, float((i * (h + 1) + 13 * k) % 97)) for i, t in enumerate(ts)]
            create(outdir, "hosts.%s.cpu.%s" % (host, kind), ret, vals, now)
    tagged = ["disk.used;dc=eu;host=h1", "disk.used;dc=eu;host=h2",
              "disk.used;dc=us;host=h3", "cpu.load;dc=eu;host=h1"]
    for j, name in enumerate(tagged):
        create(outdir, name, ret, [(t, float(i + 10 * j)) for i, t in enumerate(ts)], now)
    print("tagged:")
    for name in tagged:
        print(name)


def bench(outdir, now, count, shape):
    ts = grid(now, 8640, 10)
    seed = 12345
    for m in range(count):
        if shape == "daily":
            points = []
            for i, t in enumerate(ts):
                seed = (seed * 6364136223846793005 + 1442695040888963407) % 2**64
                noise = (seed >> 11) / 2**53 * 10 - 5
                points.append((t, 50 + 30 * math.sin(2 * math.pi * i / 8640 + m) + noise))
            create(outdir, "d.m%04d" % m, "10s:1d", points, now)
        else:
            create(outdir, "a.m%04d" % m, "10s:1d",
                   [(t, float((i + m) % 100)) for i, t in enumerate(ts)], now)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("preset", choices=["sample", "rich", "bench"])
    ap.add_argument("--now", type=int, default=1700000000)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--shape", choices=["sawtooth", "daily"], default="sawtooth")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    if args.preset == "sample":
        sample(args.outdir, args.now)
    elif args.preset == "rich":
        # graphite's TaggedSeries lives in a Django app: set up minimal settings
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "graphite.settings")
        rich(args.outdir, args.now)
    else:
        bench(args.outdir, args.now, args.count, args.shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
