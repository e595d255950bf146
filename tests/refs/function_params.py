#!/usr/bin/env python3
"""Prints graphite-web's metadata of every render function as JSON:
{name: {"group", "function", "params", "aggregator"}} where "function" is the
signature string /functions shows (graphite builds it with
inspect.getargspec, which Python 3.11 lacks, so it is rebuilt here from
inspect.signature without the leading requestContext) and "params" is each
Param's toJSON(). Run it with the reference python.
"""
import inspect
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graphite_web  # noqa: E402  (same directory: Django settings in memory)


def main():
    workdir = tempfile.mkdtemp(prefix="ferrograph-params-")
    try:
        graphite_web.configure(workdir, "UTC", workdir, {})
        from graphite.functions import SeriesFunctions
        out = {}
        for name, func in SeriesFunctions().items():
            params = list(inspect.signature(func).parameters.values())[1:]
            text = ", ".join(str(p) for p in params)
            out[name] = {
                "group": getattr(func, "group", "Ungrouped"),
                "function": "%s(%s)" % (name, text),
                "params": [p.toJSON() for p in func.params],
                "aggregator": getattr(func, "aggregator", False) is True,
            }
        # 1e9999 as graphite's /functions encoder writes it
        sys.stdout.write(json.dumps(out).replace("Infinity", "1e9999"))
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
