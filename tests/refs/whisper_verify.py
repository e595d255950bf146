"""Checks a data directory with the real `whisper` module.

  whisper_verify.py DIR [< queries]
Walks DIR (hidden entries skipped) and calls whisper.info on every .wsp file,
checking that its size matches its header. Then, for each stdin line
"RELPATH FROM UNTIL", prints whisper.fetch's values (NaN as "nan").
Output: one JSON document {"files": N, "bad": [[relpath, error]...],
"fetches": [null | {"start", "step", "values"}...]}.
"""
import json
import math
import os
import sys

import whisper

root = sys.argv[1]
files, bad = 0, []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    for name in filenames:
        if name.startswith(".") or not name.endswith(".wsp"):
            continue
        path = os.path.join(dirpath, name)
        rel = os.path.relpath(path, root)
        files += 1
        try:
            info = whisper.info(path)
            if info is None:
                raise ValueError("whisper.info returned None")
            expected = whisper.metadataSize + whisper.archiveInfoSize * len(info["archives"]) \
                + sum(a["size"] for a in info["archives"])
            if os.path.getsize(path) != expected:
                raise ValueError("size %d, header implies %d" % (os.path.getsize(path), expected))
        except Exception as e:
            bad.append([rel, "%s: %s" % (type(e).__name__, e)])

fetches = []
for line in sys.stdin:
    if not line.strip():
        continue
    rel, f, u = line.split()
    path = os.path.join(root, rel)
    if not os.path.exists(path):
        fetches.append(None)
        continue
    r = whisper.fetch(path, int(f), int(u))
    if r is None:
        fetches.append(None)
        continue
    (start, end, step), values = r
    fetches.append({"start": start, "step": step,
                    "values": [None if v is None else ("nan" if math.isnan(v) else v) for v in values]})
json.dump({"files": files, "bad": bad, "fetches": fetches}, sys.stdout)
