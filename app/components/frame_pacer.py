"""Frame pacing: the server sends a new frame only when the browser has applied the previous one.

Snapshots are "latest wins" between the engine and the server; without pacing, a browser that
draws more slowly than frames arrive (a loaded machine, a slow projector laptop) lets messages
queue up in the socket, and what it shows falls seconds behind the sliders. The server numbers
each frame in a hidden ``frame`` widget; a JavaScript callback in the browser copies the number
into a hidden ``ack`` widget as soon as the frame's message has been applied, which sends it back.
While a frame is unanswered the session keeps only the newest snapshot of each job, so a slider
change is shown with the next frame the browser can take. A frame unanswered for ``STALL_S`` (a
hidden tab, a lost message) does not hold the page back.
"""
from __future__ import annotations

import time

import panel as pn

STALL_S = 1.0
IN_FLIGHT = 1   # frames sent and not yet answered; 2 gave no more frames/s and a later echo on a loaded machine


class FramePacer:
    """``ready()`` while the browser has answered every frame (or one is overdue); ``sent()`` numbers a new one."""

    def __init__(self, stall_s: float = STALL_S, in_flight: int = IN_FLIGHT):
        self.stall_s = stall_s
        self.max_in_flight = in_flight
        self.frame = pn.widgets.IntInput(value=0, visible=False, label="frame")
        self.ack = pn.widgets.IntInput(value=0, visible=False, label="frame-ack")
        self.frame.jscallback(args={"ack": self.ack}, value="ack.value = cb_obj.value")
        self.sent_at = 0.0
        self.view = pn.Row(self.frame, self.ack, visible=False, height=0, margin=0)

    @property
    def in_flight(self) -> int:
        return self.frame.value - self.ack.value

    def ready(self) -> bool:
        return self.in_flight < self.max_in_flight or time.monotonic() - self.sent_at > self.stall_s

    def sent(self) -> None:
        """Number the frame being sent (call it with the frame's other changes, in the same message)."""
        self.frame.value += 1
        self.sent_at = time.monotonic()
