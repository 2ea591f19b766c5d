"""Bokeh's WebSocket messages leave the server at once, not after a delayed acknowledgement.

Upstream: Tornado's ``WebSocketHandler`` leaves Nagle's algorithm on (``set_nodelay`` is the public
call that turns it off, and nothing calls it), and Bokeh 3.5-3.9's ``bokeh.server.views.ws.WSHandler.open``,
which Panel 1.5-1.9's ``panel.io.server.WSHandler.open`` calls, does not call it either. A Bokeh
message is several WebSocket frames written one after another: a header, its metadata, its content,
and a small header plus a payload per binary buffer (a plot update carries one buffer per changed
column). Once one frame is in flight and unacknowledged, the kernel holds the next small ones back
until the browser's acknowledgement, which the browser delays by up to 40 ms: the last buffers of a
knob's answer arrived that much after the rest of their message.

The workaround wraps Bokeh's ``WSHandler.open`` to call ``set_nodelay(True)`` first. No longer
needed when Bokeh or Tornado set it themselves: ``test_websocket_nodelay.py`` checks that a plain
Bokeh server still leaves it off, and ``tests/app/workarounds/test_written_against.py`` fails when
either ``open`` changes. Installed only for the Bokeh and Panel versions below.
"""
from __future__ import annotations

import functools

from bokeh.server.views.ws import WSHandler

from app.workarounds.upstream import WrittenAgainst, applies

WRITTEN_AGAINST = (
    WrittenAgainst("bokeh", "3.5", "3.10", "3.9.2", {"bokeh.server.views.ws:WSHandler.open": "a9e90d3e272a"}),
    WrittenAgainst("panel", "1.5", "1.10", "1.9.4", {"panel.io.server:WSHandler.open": "50b74044acf1"}),
)

_MARK = "_ebm_sends_at_once"


def send_websocket_frames_at_once() -> None:
    """Turn Nagle's algorithm off on every browser connection this server process opens (idempotent;
    Panel's own handler calls Bokeh's ``open``)."""
    if getattr(WSHandler.open, _MARK, False) or not applies("websocket_nodelay", *WRITTEN_AGAINST):
        return
    opened = WSHandler.open

    @functools.wraps(opened)
    def open_without_delay(self, *args, **kwargs):
        self.set_nodelay(True)
        return opened(self, *args, **kwargs)

    setattr(open_without_delay, _MARK, True)
    WSHandler.open = open_without_delay
