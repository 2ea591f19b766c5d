"""Widget changes from the browser handled on the server's next turn, not after Panel's 50 ms wait.

Upstream: Panel 1.5-1.9, ``panel.reactive.Syncable``. ``Syncable._server_change`` collects a
component's incoming property changes and runs their watchers ``Syncable._debounce`` milliseconds
later (a private class attribute, 50 by default; no setting of ``pn.config`` changes it). A slider's
knob reached the engine only after that wait, a third of the lab's 150 ms budget from key press to visible
change. Changes that arrive in one message are still handled together (they are all queued before
the server's next turn).

No longer needed when Panel handles browser changes without a timer, or offers a setting for it:
``tests/app/workarounds/test_written_against.py`` fails when ``_server_change`` changes, and
``test_widget_debounce.py`` checks that Panel still reads ``_debounce``. Installed only for the Panel
versions below.
"""
from __future__ import annotations

from panel.reactive import Syncable

from app.workarounds.upstream import WrittenAgainst, applies

WIDGET_DEBOUNCE_MS = 0

WRITTEN_AGAINST = WrittenAgainst("panel", "1.5", "1.10", "1.9.4", {
    "panel.reactive:Syncable._server_change": "c728c8f4902c",
})


def answer_widgets_at_once(debounce_ms: int = WIDGET_DEBOUNCE_MS) -> None:
    """Set the wait for every Panel component of this server process (a class-level setting)."""
    if applies("widget_debounce", WRITTEN_AGAINST):
        Syncable._debounce = debounce_ms
