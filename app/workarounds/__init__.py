"""Workarounds of upstream behaviour (Panel, Bokeh, BokehJS, Tornado) the lab would rather not have.

Each module names, in its docstring, the package and versions it patches, the function or behaviour
it works around and how to tell when it is no longer needed. Each installs itself only for the
versions it was written against (``upstream.WrittenAgainst``), and
``tests/app/workarounds/test_written_against.py`` fails when the upstream code it patches changes.
The lab's own ways of moving snapshots to the browser are in ``app/live``, not here.
"""
from __future__ import annotations

from app.workarounds.style_rewrite_guard import install_style_rewrite_guard
from app.workarounds.websocket_nodelay import send_websocket_frames_at_once
from app.workarounds.widget_debounce import answer_widgets_at_once


def install(doc=None) -> None:
    """Install every workaround: the server-wide ones once per process, the browser's in ``doc``."""
    answer_widgets_at_once()
    send_websocket_frames_at_once()
    if doc is not None:
        install_style_rewrite_guard(doc)
