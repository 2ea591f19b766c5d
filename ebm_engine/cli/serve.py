"""``ebm-lab serve``: the web lab of this installation, served by ``panel serve`` in a child process.

The engine imports nothing of the UI, so the app is located with importlib (the installed ``app``
package, or the checkout's in an editable install) and run by Panel's own command line.
"""
from __future__ import annotations

import secrets
import signal
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

from ebm_engine.cli.parser import UsageError

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def app_folder() -> Path:
    """The folder of the lab's ``app`` package (holding ``main.py`` and ``warm_up.py``)."""
    spec = find_spec("app")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location)
        if (folder / "main.py").is_file() and (folder / "warm_up.py").is_file():
            return folder
    raise UsageError("the lab's app package is not installed (reinstall ebm-lab)")


def panel_command(args, folder: Path) -> list[str]:
    """The ``panel serve`` command line for ``args`` (port, address, origin, basic auth, show)."""
    origins = args.origin or [f"{args.address}:{args.port}"]
    command = [sys.executable, "-m", "panel", "serve", str(folder / "main.py"), "--setup", str(folder / "warm_up.py"),
               "--address", args.address, "--port", str(args.port)]
    for origin in origins:
        command += ["--allow-websocket-origin", origin]
    if args.basic_auth:
        command += ["--basic-auth", args.basic_auth, "--cookie-secret", secrets.token_hex(32)]
    if args.show:
        command.append("--show")
    return command


def command_serve(args) -> int:
    """Serve until the server stops; Ctrl-C and SIGTERM go to the server, whose exit code is returned."""
    folder = app_folder()
    print(f"serving {folder / 'main.py'} at http://{args.address}:{args.port}/main", file=sys.stderr, flush=True)
    server: subprocess.Popen | None = None

    def forward(sig, frame) -> None:
        if server is None:
            raise KeyboardInterrupt
        server.send_signal(sig)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        # A group of its own, so a terminal's Ctrl-C reaches the server once: through forward().
        server = subprocess.Popen(panel_command(args, folder), process_group=0)
        code = server.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None and server.poll() is None:   # interrupted while starting: leave no server behind
            server.kill()
            server.wait()
    return code if code >= 0 else 128 - code   # killed by signal N: the shell's 128 + N
