"""One session's drain: the engine's newest snapshots reach the browser paced, promptly and whole."""
from __future__ import annotations

import panel as pn
from panel.io.callbacks import PeriodicCallback
from panel.io.state import set_curdoc

from app.live.frame_pacer import FramePacer
from app.live.snapshot_doorbell import SnapshotDoorbell
from app.session import LabSession

DRAIN_PERIOD_MS = 25


def drain_in_one_message(session: LabSession) -> None:
    """Apply the newest snapshots with the document held: every plot and readout change of one drain
    reaches the browser as one combined message (Panel's ``hold``), not one message per data source."""
    with pn.io.hold():
        session.drain()


def deliver_live(doc, session: LabSession, pacer: FramePacer) -> None:
    """Drain ``session`` every ``DRAIN_PERIOD_MS``, when the browser answers a frame, and when a
    snapshot arrives; stop watching when the browser session ends."""
    pacer.on_answer = lambda: drain_in_one_message(session)   # the browser is free: send what waits now
    # the engine's snapshots are taken in as they arrive; the periodic drain paces frames and keeps watch
    doorbell = None
    if doc is not None:
        def ring() -> None:   # outside Panel's periodic callback: with ``doc`` as the current document
            with set_curdoc(doc):
                drain_in_one_message(session)

        doorbell = SnapshotDoorbell(session.snapshot_signal, ring, doc.add_next_tick_callback)

    def periodic_drain() -> None:
        drain_in_one_message(session)
        if doorbell is not None:
            doorbell.follow()

    # a background callback: Panel's busy bookkeeping (two global parameter updates per call, 40 calls a
    # second per session) would cost the server a share of a core for each open tab
    PeriodicCallback(callback=periodic_drain, period=DRAIN_PERIOD_MS, background=True).start()
    if doorbell is not None:
        pn.state.on_session_destroyed(lambda _context: doorbell.close())
