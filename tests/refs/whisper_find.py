"""Runs graphite-web's own StandardFinder over a directory.

  whisper_find.py DIR < patterns (one per line)
prints one JSON list per pattern: sorted [path, is_leaf] pairs, or
{"error": ExceptionName} when graphite-web raises.
"""
import json
import os
import sys
import tempfile
import types
import warnings

root = sys.argv[1]
work = tempfile.mkdtemp()
mod = types.ModuleType("ferrograph_find_settings")
mod.SECRET_KEY = "not-secret"
mod.STORAGE_DIR = work
mod.LOG_DIR = work
mod.WHISPER_DIR = root
mod.STANDARD_DIRS = [root]
mod.DATABASES = {"default": {"NAME": os.path.join(work, "g.db"),
                             "ENGINE": "django.db.backends.sqlite3"}}
sys.modules[mod.__name__] = mod
os.environ["GRAPHITE_SETTINGS_MODULE"] = mod.__name__
os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
warnings.filterwarnings("ignore")
import django  # noqa: E402

django.setup()
from graphite.finders.standard import StandardFinder  # noqa: E402
from graphite.storage import FindQuery  # noqa: E402

finder = StandardFinder(directories=[root])
for line in sys.stdin:
    pattern = line.rstrip("\n")
    try:
        nodes = sorted({(n.path, n.is_leaf) for n in finder.find_nodes(FindQuery(pattern, None, None))})
        print(json.dumps(nodes))
    except Exception as e:
        print(json.dumps({"error": type(e).__name__}))
