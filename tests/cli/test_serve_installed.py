"""``pip install`` (not editable) into a fresh virtual environment outside the checkout, then ``ebm-lab serve``.

The new environment borrows this one's packages (torch, panel, setuptools, pip) through a ``.pth``
file, so nothing is downloaded; the lab itself comes only from the installed wheel.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.ui.server import free_port

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "app", "ebm_engine", "assets")
INSPECT = """
import json, app, ebm_engine
from app import teaching
from ebm_engine import assets, checkpoint_store
folder = assets.assets_folder()
print(json.dumps({
    "app": app.__file__, "engine": ebm_engine.__file__, "assets": str(folder),
    "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
    "teaching": str(teaching.teaching_file("Energy Landscape")),
    "pretrained": sorted(c.reference for c in checkpoint_store.list_checkpoints() if c.pretrained),
    "checkpoints": str(checkpoint_store.checkpoints_folder()),
}))
"""


class Installed:
    def __init__(self, base: Path):
        self.base, self.venv, self.home, self.cwd = base, base / "venv", base / "home", base / "elsewhere"
        self.env = {**os.environ, "HOME": str(self.home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        for name in ("PYTHONPATH", "XDG_DATA_HOME", "EBM_LAB_CHECKPOINTS", "VIRTUAL_ENV"):
            self.env.pop(name, None)

    def run(self, *command, timeout=300) -> subprocess.CompletedProcess:
        done = subprocess.run(command, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout + done.stderr
        return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    where = Installed(tmp_path_factory.mktemp("installed"))
    source = where.base / "source"   # built from a copy, so no build/ or egg-info lands in the checkout
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    where.home.mkdir()
    where.cwd.mkdir()
    where.run(sys.executable, "-m", "venv", "--without-pip", str(where.venv))
    python = str(where.venv / "bin" / "python")
    site = where.run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip()
    Path(site, "borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    where.run(python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", str(source))
    return where


def test_the_installed_package_holds_the_app_the_engine_and_every_asset(installed):
    info = json.loads(installed.run(str(installed.venv / "bin" / "python"), "-c", INSPECT).stdout)
    for key in ("app", "engine", "assets", "teaching"):
        assert Path(info[key]).is_relative_to(installed.venv), (key, info[key])
    copied = installed.base / "source" / "assets"
    shipped = sorted(str(p.relative_to(copied)) for p in copied.rglob("*") if p.is_file())
    assert info["files"] == shipped and {"lab.css", "present.css", "logo.svg"} <= set(shipped)
    assert Path(info["teaching"]).is_file()
    stems = sorted(f"pretrained:{p.stem}" for p in (ROOT / "assets" / "checkpoints").glob("*.pt"))
    assert info["pretrained"] == stems and stems
    assert info["checkpoints"] == str(installed.home / ".local" / "share" / "ebm-lab" / "checkpoints")


def wait_for_page(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while True:
        assert server.poll() is None, "ebm-lab serve exited:\n" + log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=30) as answer:
                assert answer.status == 200
                return answer.read().decode()
        except OSError:
            assert time.monotonic() < deadline, "no page within the time limit:\n" + log.read_text()[-3000:]
            time.sleep(0.3)


def test_ebm_lab_serve_serves_the_installed_app_and_stops_with_it(installed):
    port = free_port()
    log = installed.base / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([str(installed.venv / "bin" / "ebm-lab"), "serve", "--port", str(port),
                                   "--address", "127.0.0.1"], cwd=installed.cwd, env=installed.env,
                                  stdout=out, stderr=subprocess.STDOUT)
    family = []
    try:
        html = wait_for_page(f"http://127.0.0.1:{port}/main", server, log)
        family = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
        served = next(p for p in family if "panel" in p.cmdline() and "serve" in p.cmdline())
        main_py = Path(served.cmdline()[served.cmdline().index("serve") + 1])
        assert main_py.name == "main.py" and main_py.is_relative_to(installed.venv)
        assert "<title>EBM Lab</title>" in html
        logo = base64.b64encode((ROOT / "assets" / "logo.svg").read_bytes()).decode()
        assert logo in html   # Panel inlines the logo only when it finds the file
        css = [line.strip() for line in (ROOT / "assets" / "lab.css").read_text().splitlines() if "{" in line]
        assert css and all(rule in html for rule in css)
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) in (0, 128 + signal.SIGTERM)
        gone, alive = psutil.wait_procs(family, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        for process in [*family, psutil.Process(server.pid)] if server.poll() is None else family:
            try:
                process.kill()
            except psutil.Error:
                pass
        server.wait(30)
