"""When to recompute an expensive part of a snapshot: at most every so often while training, at once when
paused; or, for readouts and background runs that follow the clock alone, every so often."""
from __future__ import annotations

import time
from typing import Callable


class Refresh:
    """``due(step)`` is true when the cached part is missing, invalidated, or stale and its interval has
    passed, or stale while training has stopped (two calls at the same step). ``done(step, seconds)``
    records it and what it cost.

    ``share`` caps the fraction of wall time the refreshes take while training: after a refresh that
    took ``c`` seconds the next one waits at least ``c / share`` from the start of this one, so an
    expensive refresh slows down instead of slowing training.

    Readouts and background runs timed by the clock alone (whatever the step) ask ``elapsed()`` and
    record with ``mark()``: the next falls due ``every_s`` after the mark, or at once after ``invalidate()``.
    """

    def __init__(self, every_s: float | Callable[[], float], share: float = 1.0):
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {share}")
        # a callable is read at every call: the interval follows a job's setting
        self._every_s = every_s if callable(every_s) else (lambda: every_s)
        self.share = share
        self.time = 0.0
        self.cost = 0.0
        self.step = None
        self.last_call_step = None

    @property
    def every_s(self) -> float:
        return float(self._every_s())

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

    def elapsed(self) -> bool:
        """Due by the clock alone: ``every_s`` has passed since the last mark. Never marked (or invalidated),
        it counts from the clock's zero: due at once, unless ``every_s`` is longer than the clock has run
        (the "never" of headless runs and tests)."""
        since = 0.0 if self.step is None else self.time
        return time.monotonic() - since >= self.every_s

    def mark(self, step: int = 0) -> None:
        """Record a clock-timed refresh (or the start of a background run) now, at ``step``."""
        self.step, self.time = step, time.monotonic()

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
