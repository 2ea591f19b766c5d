"""What every 2D plot over a box shares: the box's ranges, a hint in the middle of the empty frame
until the first data arrives, and the surface image and data points patched from snapshots."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from bokeh.models import Label

from app.plots.sent_versions import SentVersions
from ebm_engine.data import toy2d
from ebm_engine.energies.targets import TARGETS

WAITING_HINT = "press Play, or Start from pretrained"
SAMPLING_HINT = "press Play"      # pages that sample a given energy: nothing to load
DEFAULT_BOX = ((-4.0, 4.0), (-4.0, 4.0))
Bounds = tuple[tuple[float, float], tuple[float, float]]
# the trained energy's box is its data set's, known once its job reports: the toy sets' usual box
UNKNOWN_BOX: Bounds = ((-4.5, 4.5), (-4.5, 4.5))


@lru_cache(maxsize=None)
def plot_box(name: str) -> Bounds:
    """``((x0, x1), (y0, y1))`` of the toy data set or analytic target ``name``: a constant of the engine's
    data set or target (its job plots on the same box), so a fresh page shows its real axes at once."""
    if name in toy2d.NAMES:
        box = toy2d.bounds(name)
    elif name in TARGETS:
        box = TARGETS[name]().bounds
    else:
        return UNKNOWN_BOX
    (x0, x1), (y0, y1) = box
    return (float(x0), float(x1)), (float(y0), float(y1))


def empty_image() -> dict[str, list]:
    """An image source's columns with no image: nothing drawn."""
    return {"image": [], "x": [], "y": [], "dw": [], "dh": []}


class FramedPlot:
    """A mixin for a plot with a ``figure`` over a box, an ``image`` source with its colour ``mapper`` and a
    ``points`` source: ``frame`` once, then ``show_frame`` before the first data; the ``show_*`` methods
    patch each source only when the version of its part differs from the one it last sent."""

    owns_surface = True   # False when ``image`` and ``mapper`` are another plot's, which sends the grid

    def frame(self, hint: str) -> None:
        """No grid lines; grey ``hint`` text centred on the frame, readable on the light and the dark theme."""
        self.hint = Label(text=hint, text_align="center", text_baseline="middle", text_color="#8a8a8a",
                          text_font_size="15px", name="waiting-hint")
        self.figure.add_layout(self.hint)
        self.figure.grid.visible = False
        self._bounds = None
        self.sent = SentVersions()
        self.show_frame(DEFAULT_BOX)

    def show_frame(self, bounds) -> None:
        """Before the first grid: the empty frame over ``bounds``, the hint in its middle."""
        (x0, x1), (y0, y1) = bounds
        self.hint.update(x=(x0 + x1) / 2, y=(y0 + y1) / 2)
        self.set_ranges(x0, x1, y0, y1)

    def retitle(self, label: str) -> None:
        """The first data has come: no hint; the title says what is drawn."""
        if self.hint.visible:
            self.hint.visible = False
        if self.figure.title.text != label:
            self.figure.title.text = label

    def set_ranges(self, x0: float, x1: float, y0: float, y1: float) -> None:
        if (x0, x1, y0, y1) != self._bounds:
            self._bounds = (x0, x1, y0, y1)
            self.figure.x_range.update(start=x0, end=x1)
            self.figure.y_range.update(start=y0, end=y1)

    def show_empty(self, bounds, label: str, version: int | None) -> None:
        """No surface to draw (the page has none for this data): an empty frame titled ``label``; ``version``
        is that of the part that has no surface."""
        if self.owns_surface and self.sent.due("grid", version):
            self.image.data = empty_image()
        self.retitle(label)
        self.set_ranges(*bounds[0], *bounds[1])

    def show_grid(self, grid: np.ndarray, bounds, low: float, high: float, label: str, version: int | None) -> None:
        """The surface ``grid`` over ``bounds`` (sent when ``version`` is new), its colour range and title."""
        (x0, x1), (y0, y1) = bounds
        if self.owns_surface:
            if self.sent.due("grid", version):
                self.image.data = {"image": [grid], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}
            self.mapper.update(low=float(low), high=float(max(high, low + 1e-6)))
        self.retitle(label)
        self.set_ranges(x0, x1, y0, y1)

    def show_points(self, xy: np.ndarray, version: int | None) -> None:
        if self.sent.due("points", version):
            self.points.data = {"x": xy[:, 0], "y": xy[:, 1]}
