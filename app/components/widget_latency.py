"""Widget changes from the browser handled on the server's next turn, not after Panel's 50 ms wait.

Panel collects a component's incoming property changes for ``Syncable._debounce`` milliseconds
(50 by default) before it runs their watchers. A slider's knob reached the engine only after that
wait, a third of the lab's 150 ms budget from key press to visible change. Changes that arrive in one
message are still handled together (they are all queued before the server's next turn).
"""
from __future__ import annotations

from panel.reactive import Syncable

WIDGET_DEBOUNCE_MS = 0


def answer_widgets_at_once(debounce_ms: int = WIDGET_DEBOUNCE_MS) -> None:
    """Set the wait for every Panel component of this server process (a class-level setting)."""
    if not hasattr(Syncable, "_debounce"):
        raise RuntimeError("panel.reactive.Syncable has no _debounce: check the widget latency set-up "
                           "against this Panel version")
    Syncable._debounce = debounce_ms
