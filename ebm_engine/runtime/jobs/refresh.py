"""When to recompute an expensive part of a snapshot: at most every so often while training, at once when paused."""
from __future__ import annotations

import time


class Refresh:
    """``due(step)`` is true when the cached part is missing, invalidated, or stale and its interval has
    passed, or stale while training has stopped (two calls at the same step). ``done(step)`` records it."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self.time = 0.0
        self.step = None
        self.last_call_step = None

    def invalidate(self) -> None:
        self.step = None

    def due(self, step: int) -> bool:
        paused = step == self.last_call_step
        self.last_call_step = step
        if self.step is None:
            return True
        stale = self.step != step
        return stale and (paused or time.monotonic() - self.time >= self.every_s)

    def done(self, step: int) -> None:
        self.step = step
        self.time = time.monotonic()
