"""Differential driver for the Whisper interop tests (tests/whisper_interop.rs).

Reads one JSON document on stdin, replays every case with the real `whisper`
module and prints one JSON document on stdout. Floats travel as the hex of
their IEEE-754 big-endian bytes so NaN, infinities and -0.0 survive exactly.

Input:  {"dir": DIR, "cases": [CASE...], "sets": [[int...]...], "tagged": [name...]}
CASE:   {"name", "archives": [[spp, points]...], "xff", "method",
         "ops": [{"op": "update_many", "points": [[ts, hex]...], "now": N}
                 | {"op": "update", "ts": T, "value": hex, "now": N}],
         "fetches": [[from, until, now]...], "rust_file": PATH}
Output: {"cases": [{"py_file", "errors": [null|ExceptionName...],
                    "info_py", "info_rust", "fetch_py", "fetch_py_on_rust"}],
         "sets": [[int...]...], "tagged": [[hash_path, dot_path]...]}
"""
import json
import os
import struct
import sys

import whisper

try:
    from graphite.tags.utils import TaggedSeries
except Exception:  # graphite-web missing: the tagged part is skipped
    TaggedSeries = None


def unhex(h):
    return struct.unpack(">d", bytes.fromhex(h))[0]


def tohex(v):
    return None if v is None else struct.pack(">d", v).hex()


def fetch(path, f, u, now):
    try:
        r = whisper.fetch(path, f, u, now=now)
    except Exception as e:
        return {"error": type(e).__name__}
    if r is None:
        return None
    (start, end, step), values = r
    return {"start": start, "end": end, "step": step, "values": [tohex(v) for v in values]}


def info(path):
    i = whisper.info(path)
    return {
        "aggregationMethod": i["aggregationMethod"],
        "maxRetention": i["maxRetention"],
        "xFilesFactor": struct.pack(">f", i["xFilesFactor"]).hex(),
        "archives": [[a["offset"], a["secondsPerPoint"], a["points"]] for a in i["archives"]],
    }


def run_case(d, case):
    path = os.path.join(d, case["name"] + ".py.wsp")
    whisper.create(path, [tuple(a) for a in case["archives"]],
                   xFilesFactor=case["xff"], aggregationMethod=case["method"])
    errors = []
    for op in case["ops"]:
        try:
            if op["op"] == "update_many":
                whisper.update_many(path, [(t, unhex(v)) for t, v in op["points"]], now=op["now"])
            else:
                whisper.update(path, unhex(op["value"]), op["ts"], now=op["now"])
            errors.append(None)
        except Exception as e:
            errors.append(type(e).__name__)
    rust = case["rust_file"]
    return {
        "py_file": path,
        "errors": errors,
        "info_py": info(path),
        "info_rust": info(rust),
        "fetch_py": [fetch(path, f, u, n) for f, u, n in case["fetches"]],
        "fetch_py_on_rust": [fetch(rust, f, u, n) for f, u, n in case["fetches"]],
    }


def main():
    spec = json.load(sys.stdin)
    out = {"cases": [run_case(spec["dir"], c) for c in spec["cases"]],
           "sets": [list(set(s)) for s in spec.get("sets", [])],
           "tagged": []}
    if TaggedSeries is not None:
        for name in spec.get("tagged", []):
            try:
                canonical = TaggedSeries.parse(name).path
            except Exception:
                canonical = name  # carbon stores invalid tagged names as given
            out["tagged"].append([
                canonical,
                TaggedSeries.encode(canonical, sep="/", hash_only=True),
                TaggedSeries.encode(canonical, sep="/", hash_only=False),
            ])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
