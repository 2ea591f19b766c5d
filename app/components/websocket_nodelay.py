"""Bokeh's WebSocket messages leave the server at once, not after a delayed acknowledgement.

A Bokeh message is several WebSocket frames written one after another: a header, its metadata, its
content, and a small header plus a payload per binary buffer (a plot update carries one buffer per
changed column). Tornado leaves Nagle's algorithm on for WebSocket connections, so once one frame
is in flight and unacknowledged, the kernel holds the next small ones back until the browser's
acknowledgement, which the browser delays by up to 40 ms. On the Samplers page, paused, a knob's
answer reached the browser 105-109 ms after the key press, with the last 512-byte buffers arriving
40 ms after the rest of their message; with ``TCP_NODELAY`` set it took 77-78 ms.
"""
from __future__ import annotations

from bokeh.server.views.ws import WSHandler

_MARK = "_ebm_sends_at_once"


def send_websocket_frames_at_once() -> None:
    """Turn Nagle's algorithm off on every browser connection this server process opens (idempotent;
    Panel's own handler calls Bokeh's ``open``)."""
    if getattr(WSHandler.open, _MARK, False):
        return
    opened = WSHandler.open

    def open_without_delay(self, *args, **kwargs):
        self.set_nodelay(True)
        return opened(self, *args, **kwargs)

    setattr(open_without_delay, _MARK, True)
    open_without_delay.__wrapped__ = opened
    open_without_delay.__doc__ = opened.__doc__
    WSHandler.open = open_without_delay
