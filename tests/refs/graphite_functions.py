#!/usr/bin/env python3
"""Prints graphite-web 1.1.10's /functions metadata as JSON:
{name: {"function", "group", "module", "params"}} for every series function.

graphite-web 1.1.10 builds the `function` signature with
inspect.getargspec/formatargspec, which Python 3.11 removed (its /functions
view fails there); this script supplies equivalents of both so the
metadata is what 1.1.10 serves on the Pythons it supports.
Run it with the reference python.
"""
import inspect
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from graphite_web import configure  # noqa: E402


def getargspec(f):
    a = inspect.getfullargspec(f)
    return (a.args, a.varargs, a.varkw, a.defaults)


def formatargspec(args, varargs, varkw, defaults):
    defaults = defaults or ()
    first_default = len(args) - len(defaults)
    out = [a if i < first_default else "%s=%r" % (a, defaults[i - first_default])
           for i, a in enumerate(args)]
    if varargs:
        out.append("*" + varargs)
    if varkw:
        out.append("**" + varkw)
    return "(" + ", ".join(out) + ")"


def main():
    workdir = tempfile.mkdtemp(prefix="ferrograph-graphite-functions-")
    try:
        configure(workdir, "UTC", workdir, {})
        inspect.getargspec = getargspec
        inspect.formatargspec = formatargspec
        from graphite.functions import SeriesFunctions, functionInfo
        from graphite.functions.views import jsonInfinityEncoder
        out = {}
        for name, func in SeriesFunctions().items():
            info = functionInfo(name, func)
            del info["description"]
            out[name] = info
        print(json.dumps(out, cls=jsonInfinityEncoder))
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
