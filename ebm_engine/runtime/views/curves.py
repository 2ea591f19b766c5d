"""Training curves: the newest points of each, and a curve's provisional end while an iteration's negative
chains are still moving."""
from __future__ import annotations

from collections import deque
from typing import Iterable

import numpy as np

from ebm_engine.samplers.short_run import InFlightChains


class Curves(dict):
    """Curves by name, each keeping its newest ``maxlen`` points."""

    def __init__(self, names: Iterable[str], maxlen: int):
        super().__init__({name: deque(maxlen=maxlen) for name in names})

    def add(self, **points: float) -> None:
        for name, value in points.items():
            self[name].append(value)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(points, dtype=np.float64) for name, points in self.items()}


def curve_tail(iteration: int, chains: InFlightChains | None, steps: int,
               values: dict[str, float] | None) -> dict[str, float] | None:
    """``{"step": iteration + done / steps, **values}`` while the chains of the iteration after
    ``iteration`` are on their way (None before their first step, or without chains or values).
    The curve's next point lands at ``iteration + 1``, where the chains end."""
    if chains is None or chains.steps_done == 0 or steps <= 0 or not values:
        return None
    return {"step": float(iteration + min(chains.steps_done, steps) / steps), **values}
