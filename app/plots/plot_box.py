"""The plotting box of a 2D data set or target, for the empty frame a surface shows before its first grid.

The box is a constant of the engine's data set or target (the job plots on the same box); reading it
here lets a fresh page show its real axes before the engine has sent anything.
"""
from __future__ import annotations

from functools import lru_cache

from ebm_engine.data import toy2d
from ebm_engine.energies.targets import TARGETS

Bounds = tuple[tuple[float, float], tuple[float, float]]
# the trained energy's box is its data set's, known once its job reports: the toy sets' usual box
UNKNOWN_BOX: Bounds = ((-4.5, 4.5), (-4.5, 4.5))


@lru_cache(maxsize=None)
def plot_box(name: str) -> Bounds:
    """``((x0, x1), (y0, y1))`` of the toy data set or analytic target ``name``."""
    if name in toy2d.NAMES:
        box = toy2d.bounds(name)
    elif name in TARGETS:
        box = TARGETS[name]().bounds
    else:
        return UNKNOWN_BOX
    (x0, x1), (y0, y1) = box
    return (float(x0), float(x1)), (float(y0), float(y1))
