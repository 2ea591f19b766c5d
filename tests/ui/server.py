"""Serve the lab in a child process with chosen environment settings (browser tests and benchmarks)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("EBM_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_lab(env: dict[str, str] | None = None, python: str | None = None, warm_up: bool = True):
    """Yield ``(url, server_process)`` for ``panel serve app/main.py`` (warmed up as ``make lab`` does;
    ``warm_up=False``: plain, as a user of the installed package serves it) on a free localhost port."""
    port = free_port()
    panel = str(Path(python or sys.executable).with_name("panel"))
    log = tempfile.NamedTemporaryFile("w+", prefix="ebm-lab-served-", suffix=".log", delete=False)
    setup = ["--setup", "app/warm_up.py"] if warm_up else []
    server = subprocess.Popen([panel, "serve", "app/main.py", *setup, "--port", str(port),
                               "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"], cwd=ROOT,
                              env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                raise RuntimeError("panel serve exited:\n" + Path(log.name).read_text()[-3000:])
            try:
                urllib.request.urlopen(url + "/main", timeout=30)   # a loaded machine builds slowly
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the lab did not answer within 90 s")
                time.sleep(0.3)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        os.unlink(log.name)
