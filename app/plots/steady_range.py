"""Axis ranges that hold still while a plot's data move a little from frame to frame.

A data range that follows every frame changes the axis's tick labels, and often their width; Bokeh
then repaints the plot a second time and lays it out again (measured on the Samplers page: the
marginals and the energy trace painted twice per frame). A steady range grows at once to fit the
data, with some headroom, and shrinks only when the data use a small part of it.
"""
from __future__ import annotations

import math

import numpy as np
from bokeh.models import Range1d

HEADROOM = 0.1      # room left beyond the data, as a fraction of their span
SHRINK_BELOW = 0.5  # shrink when the data span less than this fraction of the range


class SteadyRange:
    """Keeps ``range`` (a ``Range1d``) around the data given to ``fit``; ``floor`` pins the start."""

    def __init__(self, range_: Range1d, floor: float | None = None):
        self.range = range_
        self.floor = floor

    def fit(self, low: float, high: float) -> None:
        if self.floor is not None:
            low = self.floor
        if not (math.isfinite(low) and math.isfinite(high)) or high < low:
            return
        span = high - low
        if span <= 1e-9 * max(1.0, abs(low), abs(high)):   # one value (a first point): a window its size,
            span = max(1.0, abs(low), abs(high))           # not one of 1e-12 with unreadable tick labels
        start, end = self.range.start, self.range.end
        outside = low < start or high > end
        loose = span < SHRINK_BELOW * (end - start)
        if outside or loose:
            pad = HEADROOM * span
            start, end = (low if self.floor is not None else low - pad), high + pad
            # the reset tool returns to the range as it is now, not to the placeholder it started with
            self.range.update(start=start, end=end, reset_start=start, reset_end=end)

    def fit_values(self, *arrays) -> None:
        """``fit`` to the finite values of ``arrays`` (nothing happens when there are none)."""
        finite = [a[np.isfinite(a)] for a in (np.asarray(v, dtype=float) for v in arrays) if len(a)]
        finite = [a for a in finite if len(a)]
        if finite:
            self.fit(float(min(a.min() for a in finite)), float(max(a.max() for a in finite)))
