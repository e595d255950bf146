#!/usr/bin/env python3
"""Runs a batch of HTTP requests through the real graphite-web (1.1.10) views,
in-process with Django's test client, over a directory of Whisper files, and
prints every response. One Django start serves the whole batch.

Input (JSON on stdin):
  {"whisper_dir": DIR, "tz": "UTC", "settings": {KEY: VALUE, ...},
   "requests": [{"method": "GET" | "POST", "path": "/render/",
                 "params": [[key, value], ...], "body": TEXT?}, ...]}
  (with "body", that text is sent as an application/json body)
Output (JSON on stdout): a list, one entry per request, in order:
  {"status": 200, "content_type": "...", "body": TEXT, "base64": false}
  (bodies that are not UTF-8, e.g. pickle, come base64-encoded with
  "base64": true).

Settings are built in memory (no /etc/graphite): STANDARD_DIRS=[DIR],
TIME_ZONE=tz, DummyCache, DEFAULT_XFILES_FACTOR=0, logs and the sqlite
database (tag DB included) in a temporary directory. No carbon-cache runs,
so the CarbonLink query is stubbed to "no cached points".
Run it with the reference python (tests/util: ref_python()).
"""
import base64
import json
import os
import shutil
import sys
import tempfile
import types
import warnings
from urllib.parse import urlencode


def configure(whisper_dir, tz, workdir, extra):
    mod = types.ModuleType("ferrograph_graphite_settings")
    whisper_dir = os.path.abspath(whisper_dir)
    if not whisper_dir.endswith("/"):
        whisper_dir += "/"
    mod.SECRET_KEY = "test-only"
    mod.TIME_ZONE = tz
    mod.STORAGE_DIR = workdir
    mod.WHISPER_DIR = whisper_dir
    mod.STANDARD_DIRS = [whisper_dir]
    mod.LOG_DIR = os.path.join(workdir, "log")
    mod.INDEX_FILE = os.path.join(workdir, "index")
    mod.DATABASES = {"default": {"NAME": os.path.join(workdir, "graphite.db"),
                                 "ENGINE": "django.db.backends.sqlite3"}}
    mod.DEFAULT_XFILES_FACTOR = 0
    mod.LOG_RENDERING_PERFORMANCE = False
    mod.LOG_CACHE_PERFORMANCE = False
    mod.LOG_INFO_PERFORMANCE = False
    mod.LOG_ROTATION = False
    for k, v in extra.items():
        setattr(mod, k, v)
    os.makedirs(mod.LOG_DIR, exist_ok=True)
    sys.modules[mod.__name__] = mod
    os.environ["GRAPHITE_SETTINGS_MODULE"] = mod.__name__
    os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
    warnings.filterwarnings("ignore")
    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", run_syncdb=True, verbosity=0)
    import graphite.carbonlink as carbonlink
    carbonlink.CarbonLinkPool.query = lambda self, metric: []


def main():
    job = json.load(sys.stdin)
    workdir = tempfile.mkdtemp(prefix="ferrograph-graphite-")
    try:
        configure(job["whisper_dir"], job.get("tz", "UTC"), workdir, job.get("settings", {}))
        from django.test import Client
        # graphite's own failures (its 500s) answer as such instead of ending the batch
        client = Client(raise_request_exception=False)
        out = []
        for req in job["requests"]:
            params = [(k, v) for k, v in req.get("params", [])]
            if req.get("body") is not None:
                # a raw body (POST /events/ takes JSON, not a form)
                resp = client.generic(req.get("method", "POST"), req["path"],
                                      req["body"].encode("utf-8"),
                                      content_type="application/json")
            elif req.get("method", "GET") == "POST":
                resp = client.post(req["path"], urlencode(params),
                                   content_type="application/x-www-form-urlencoded")
            else:
                query = urlencode(params)
                resp = client.get(req["path"] + ("?" + query if query else ""))
            body = resp.content
            try:
                text, is_b64 = body.decode("utf-8"), False
            except UnicodeDecodeError:
                text, is_b64 = base64.b64encode(body).decode("ascii"), True
            out.append({"status": resp.status_code,
                        "content_type": resp.get("Content-Type", ""),
                        "body": text, "base64": is_b64})
        json.dump(out, sys.stdout)
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
