"""``ebm-lab serve``: its arguments, the ``panel serve`` command it builds, and how it stops its server."""
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

import app
from ebm_engine.cli import main, serve
from ebm_engine.cli.parser import build_parser

APP = Path(app.__file__).resolve().parent


@pytest.mark.parametrize("port", ["0", "65536", "http", "-5"])
def test_a_bad_port_is_one_line_and_exit_code_2(port, capsys):
    assert main(["serve", "--port", port]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ebm-lab: error: argument --port") and err.count("\n") == 1


def test_the_default_command_serves_the_app_package_on_localhost_5006():
    command = serve.panel_command(build_parser().parse_args(["serve"]), serve.app_folder())
    assert serve.app_folder() == APP
    assert command[:4] == [sys.executable, "-m", "panel", "serve"]
    assert command[4:] == [str(APP / "main.py"), "--setup", str(APP / "warm_up.py"), "--address", "localhost",
                           "--port", "5006", "--allow-websocket-origin", "localhost:5006"]


def test_address_port_origins_password_and_show_reach_panel():
    args = build_parser().parse_args(["serve", "--port", "8123", "--address", "0.0.0.0", "--origin", "lab.local:8123",
                                      "--origin", "10.0.0.2:8123", "--basic-auth", "s3cret", "--show"])
    command = serve.panel_command(args, APP)
    text = " ".join(command)
    assert "--address 0.0.0.0 --port 8123" in text
    assert "--allow-websocket-origin lab.local:8123 --allow-websocket-origin 10.0.0.2:8123" in text
    assert "0.0.0.0:8123" not in text   # the listening address is no origin a browser uses
    secret = command[command.index("--cookie-secret") + 1]
    assert command[command.index("--basic-auth") + 1] == "s3cret" and len(secret) == 64
    assert command[-1] == "--show"


def run_serve_with(monkeypatch, child_code: str, signal_when_ready: int | None, tmp_path) -> int:
    """``command_serve`` with ``child_code`` standing in for Panel; optionally signal this process once it runs."""
    ready = tmp_path / "ready"
    monkeypatch.setattr(serve, "panel_command", lambda args, folder: [
        sys.executable, "-c", f"import pathlib; pathlib.Path({str(ready)!r}).touch()\n{child_code}"])

    def signal_later():
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal_when_ready)

    if signal_when_ready is not None:
        threading.Thread(target=signal_later, daemon=True).start()
    return serve.command_serve(build_parser().parse_args(["serve"]))


def test_sigterm_goes_to_the_server_and_its_exit_code_comes_back(monkeypatch, tmp_path):
    child = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\ntime.sleep(60)"
    before = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    assert run_serve_with(monkeypatch, child, signal.SIGTERM, tmp_path) == 3
    assert time.monotonic() - started < 30
    assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_goes_to_the_server_and_a_server_killed_by_a_signal_gives_128_plus_n(monkeypatch, tmp_path):
    child = "import os, signal, time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n" \
            "    os.kill(os.getpid(), signal.SIGKILL)"
    assert run_serve_with(monkeypatch, child, signal.SIGINT, tmp_path) == 128 + signal.SIGKILL
