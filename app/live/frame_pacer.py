"""Frame pacing: the server sends a new frame only when the browser has applied the previous one.

Without pacing, a browser that draws more slowly than frames arrive lets messages queue up in the
socket and falls seconds behind the sliders. The server numbers each frame in a hidden ``frame``
widget; a JavaScript callback copies the number into a hidden ``ack`` widget once the frame's message
has been applied, which sends it back. A frame unanswered for ``STALL_S`` (a hidden tab, a lost
message) does not hold the page back.
"""
from __future__ import annotations

import time
from typing import Callable

import panel as pn

STALL_S = 1.0
# frames sent and not yet answered: with 2 the browser has the next frame at hand when it finishes one
# (measured with bench/app_latency.py: more frames a second than with 1, and no clear cost in latency)
IN_FLIGHT = 2


class FrameAck(pn.widgets.IntInput):
    """The hidden widget the browser answers frames in. Its changes are bookkeeping, not work a user
    waits for: they do not mark the server busy (Panel's busy bookkeeping runs the global ``busy``
    watchers twice per change, several milliseconds at every frame of every open tab)."""

    _busy__ignore = ["value"]


class FramePacer:
    """``ready()`` while fewer than ``in_flight`` frames await the browser's answer (or one is overdue);
    ``sent()`` numbers a new frame; ``on_answer`` is called when an answer makes room."""

    def __init__(self, stall_s: float = STALL_S, in_flight: int = IN_FLIGHT):
        self.stall_s = stall_s
        self.max_in_flight = in_flight
        self.on_answer: Callable[[], None] | None = None   # e.g. send the waiting frame at once
        self.frame = pn.widgets.IntInput(value=0, visible=False, label="frame")
        self.ack = FrameAck(value=0, visible=False, label="frame-ack")
        self.frame.jscallback(args={"ack": self.ack}, value="ack.value = cb_obj.value")
        self.ack.param.watch(self._answered, "value")
        self.sent_at = 0.0
        self.view = pn.Row(self.frame, self.ack, visible=False, height=0, margin=0)

    @property
    def in_flight(self) -> int:
        return self.frame.value - self.ack.value

    def ready(self) -> bool:
        return self.in_flight < self.max_in_flight or time.monotonic() - self.sent_at > self.stall_s

    def _answered(self, _event) -> None:
        if self.on_answer is not None and self.ready():
            self.on_answer()

    def sent(self) -> None:
        """Number the frame being sent (call it with the frame's other changes, in the same message)."""
        self.frame.value += 1
        self.sent_at = time.monotonic()
