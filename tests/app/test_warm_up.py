"""The server's warm-up (``panel serve --setup app/warm_up.py``) imports the pages and starts the
engines' fork server before the first visitor comes."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import multiprocessing.forkserver as fs, runpy, sys
assert "holoviews" not in sys.modules and fs._forkserver._forkserver_pid is None
runpy.run_path("app/warm_up.py")
assert "holoviews.plotting.bokeh" in sys.modules and "app.pages.images" in sys.modules
pid = fs._forkserver._forkserver_pid
assert pid is not None
import os
os.kill(pid, 0)   # the fork server is running
print("ok", pid)
"""


def test_warm_up_imports_the_pages_and_starts_the_fork_server():
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok ")
