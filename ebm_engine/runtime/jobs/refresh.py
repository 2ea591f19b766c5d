"""When to recompute an expensive part of a snapshot: at most every so often while training, at once when paused."""
from __future__ import annotations

import time


class Refresh:
    """``due(step)`` is true when the cached part is missing, invalidated, or stale and its interval has
    passed, or stale while training has stopped (two calls at the same step). ``done(step, seconds)``
    records it and what it cost.

    ``share`` caps the fraction of wall time the refreshes take while training: after a refresh that
    took ``c`` seconds the next one waits at least ``c / share`` from the start of this one, so an
    expensive refresh slows down instead of slowing training.
    """

    def __init__(self, every_s: float, share: float = 1.0):
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {share}")
        self.every_s = every_s
        self.share = share
        self.time = 0.0
        self.cost = 0.0
        self.step = None
        self.last_call_step = None

    def invalidate(self) -> None:
        self.step = None

    def interval(self) -> float:
        """Seconds from the start of one refresh to the next while training."""
        return max(self.every_s, self.cost / self.share)

    def due(self, step: int) -> bool:
        paused = step == self.last_call_step
        self.last_call_step = step
        if self.step is None:
            return True
        stale = self.step != step
        return stale and (paused or time.monotonic() - self.time >= self.interval())

    def done(self, step: int, seconds: float = 0.0) -> None:
        """Record a refresh at ``step`` that has just finished after ``seconds``.

        The refreshes keep a rhythm: one made a little late (at the first snapshot after it fell due)
        counts from when it was due. Counted from when it ran, a 0.1 s interval between snapshots
        1/15 s apart would fall due at every second snapshot only: 7.5 refreshes a second, not 10."""
        interval = self.interval()   # the one this refresh fell due by
        self.step = step
        self.cost = max(0.0, seconds)
        started = time.monotonic() - self.cost
        due_at = self.time + interval
        self.time = due_at if due_at <= started < due_at + interval else started
