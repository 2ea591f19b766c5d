"""EBM Lab entry point: ``panel serve app/main.py`` builds one shell and one engine per browser session."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import panel as pn  # noqa: E402
from panel.io.state import set_curdoc  # noqa: E402
from panel.io.callbacks import PeriodicCallback  # noqa: E402

import app.pages  # noqa: E402,F401  (registers the pages)
from app.components.frame_pacer import FramePacer  # noqa: E402
from app.components.snapshot_doorbell import SnapshotDoorbell  # noqa: E402
from app.components.style_rewrite_guard import install_style_rewrite_guard  # noqa: E402
from app.components.websocket_nodelay import send_websocket_frames_at_once  # noqa: E402
from app.components.widget_latency import answer_widgets_at_once  # noqa: E402
from app.session import LabSession  # noqa: E402
from app.shell import ASSETS, LabShell  # noqa: E402

pn.extension("mathjax", raw_css=[(ASSETS / "lab.css").read_text()], notifications=False)
answer_widgets_at_once()
send_websocket_frames_at_once()

DRAIN_PERIOD_MS = 25


def session_args() -> dict[str, str]:
    args = pn.state.session_args or {}
    return {k: v[0].decode(errors="replace") for k, v in args.items() if v}


def browser_connections_of(doc) -> int:
    """How many browser connections the session of ``doc`` has (1 while its tab is open)."""
    context = doc.session_context if doc is not None else None
    session = getattr(context, "session", None) if context is not None else None
    return session.connection_count if session is not None else 1


def drain_in_one_message(session: LabSession) -> None:
    """Apply the newest snapshots with the document held: every plot and readout change of one drain
    reaches the browser as one combined message (Panel's ``hold``), not one message per data source."""
    with pn.io.hold():
        session.drain()


def drain_on(doc, session: LabSession) -> None:
    """A drain outside Panel's periodic callback (the doorbell's): with ``doc`` as the current document."""
    with set_curdoc(doc):
        drain_in_one_message(session)


def build() -> pn.template.BootstrapTemplate:
    """One session: an engine process, the shell, the paced snapshot drain and the clean-up hooks."""
    args = session_args()
    doc = pn.state.curdoc
    if doc is not None:
        install_style_rewrite_guard(doc)
    pacer = FramePacer()
    loaded: list[bool] = []
    # no snapshot before the browser has loaded the page: changes made earlier reached no browser
    # (opened on ?page=Samplers, the trails' colours and the surface's placement were never shown)
    session = LabSession(connections=lambda: browser_connections_of(doc) if loaded else 0, pacer=pacer)
    shell = LabShell(session, query=args, location=pn.state.location)
    shell.template.main.append(pacer.view)
    pacer.on_answer = lambda: drain_in_one_message(session)   # the browser is free: send what waits now
    pn.state.onload(lambda: loaded.append(True))
    pn.state.onload(shell.write_url)        # the browser's address is known once the page has loaded
    # the engine's snapshots are taken in as they arrive; the periodic drain paces frames and keeps watch
    doorbell = None
    if doc is not None:
        doorbell = SnapshotDoorbell(session.snapshot_signal, lambda: drain_on(doc, session),
                                    doc.add_next_tick_callback)

    def periodic_drain() -> None:
        drain_in_one_message(session)
        if doorbell is not None:
            doorbell.follow()

    # a background callback: Panel's busy bookkeeping (two global parameter updates per call, 40 calls a
    # second per session) cost the server ~4 % of a core for each open tab
    PeriodicCallback(callback=periodic_drain, period=DRAIN_PERIOD_MS, background=True).start()
    if doorbell is not None:
        pn.state.on_session_destroyed(lambda _context: doorbell.close())
    pn.state.on_session_destroyed(session.stop)
    return shell.template


if pn.state.curdoc is not None or __name__.startswith("bokeh"):
    build().servable(title="EBM Lab")
