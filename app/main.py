"""EBM Lab entry point: ``panel serve app/main.py`` builds one shell and one engine per browser session."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import panel as pn  # noqa: E402

import app.pages  # noqa: E402,F401  (registers the pages)
from app import workarounds  # noqa: E402
from app.live.delivery import deliver_live  # noqa: E402
from app.live.frame_pacer import FramePacer  # noqa: E402
from app.session import LabSession  # noqa: E402
from app.shell import ASSETS, LabShell  # noqa: E402

pn.extension("mathjax", raw_css=[(ASSETS / "lab.css").read_text()], notifications=False)


def session_args() -> dict[str, str]:
    args = pn.state.session_args or {}
    return {k: v[0].decode(errors="replace") for k, v in args.items() if v}


def browser_connections_of(doc) -> int:
    """How many browser connections the session of ``doc`` has (1 while its tab is open)."""
    session = getattr(getattr(doc, "session_context", None), "session", None)
    return session.connection_count if session is not None else 1


def build() -> pn.template.BootstrapTemplate:
    """One session: an engine process, the shell, the live delivery of snapshots and the clean-up hooks."""
    args = session_args()
    doc = pn.state.curdoc
    workarounds.install(doc)                # before the browser connects: its socket, its widgets, its paint
    pacer = FramePacer()
    loaded: list[bool] = []
    # no snapshot before the browser has loaded the page: changes made earlier reached no browser
    # (opened on ?page=Samplers, the trails' colours and the surface's placement were never shown)
    session = LabSession(connections=lambda: browser_connections_of(doc) if loaded else 0, pacer=pacer)
    shell = LabShell(session, query=args, location=pn.state.location)
    shell.template.main.append(pacer.view)
    pn.state.onload(lambda: loaded.append(True))
    pn.state.onload(shell.write_url)        # the browser's address is known once the page has loaded
    deliver_live(doc, session, pacer)
    pn.state.on_session_destroyed(session.stop)
    return shell.template


if pn.state.curdoc is not None or __name__.startswith("bokeh"):
    build().servable(title="EBM Lab")
