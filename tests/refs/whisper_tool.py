"""Runs one classic whisper-*.py tool with the clock pinned.

  whisper_tool.py NOW TOOL [ARGS...]
TOOL is the script name (whisper-info.py, ...) from the reference venv's bin
directory; time.time() returns NOW for the whole run, so the tool's "now"
matches ferrograph's FERROGRAPH_WHISPER_NOW.
"""
import os
import runpy
import sys
import time

now = float(sys.argv[1])
time.time = lambda: now
tool = os.path.join(os.path.dirname(sys.executable), sys.argv[2])
sys.argv = [tool] + sys.argv[3:]
runpy.run_path(tool, run_name="__main__")
