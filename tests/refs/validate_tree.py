#!/usr/bin/env python3
"""Opens every .wsp file under DIR with the real whisper module
(whisper.info and a fetch of the whole retention) and prints a JSON summary
{"files": N, "errors": [[path, message], ...]}; exits 1 if any failed.
Run with the reference python."""
import json
import os
import sys
import time

import whisper


def main():
    root = sys.argv[1]
    files, errors = 0, []
    now = int(time.time())
    for dirpath, _, names in os.walk(root):
        for name in names:
            if not name.endswith(".wsp"):
                continue
            path = os.path.join(dirpath, name)
            files += 1
            try:
                info = whisper.info(path)
                expected = 16 + 12 * len(info["archives"]) + sum(a["size"] for a in info["archives"])
                if os.path.getsize(path) != expected:
                    raise ValueError("size %d, header says %d" % (os.path.getsize(path), expected))
                whisper.fetch(path, now - info["maxRetention"] + 1, now, now=now)
            except Exception as e:  # report every failure, not just the first
                errors.append([path, "%s: %s" % (type(e).__name__, e)])
    json.dump({"files": files, "errors": errors}, sys.stdout)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
