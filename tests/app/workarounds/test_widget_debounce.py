"""Widget changes from the browser reach the page's watchers on the server's next turn."""
from __future__ import annotations

import inspect

from panel.reactive import Syncable

from app.workarounds.widget_debounce import answer_widgets_at_once


def test_panel_waits_no_longer_before_running_widget_watchers():
    before = Syncable._debounce
    try:
        answer_widgets_at_once()
        assert Syncable._debounce == 0
        # the setting is the one Panel reads when a browser change arrives (fails if Panel renames it)
        assert "self._debounce" in inspect.getsource(Syncable._server_change)
    finally:
        Syncable._debounce = before
