"""Chains over a surface: per-chain trails, accepted vs rejected markers, click-to-spawn."""
from __future__ import annotations

from typing import Callable

import numpy as np
from bokeh.events import Tap
from bokeh.models import ColumnDataSource
from bokeh.palettes import Category20_20

from app.plots.framed import WAITING_HINT
from app.plots.surface_plot import SurfacePlot


TRAIL_DIGITS = 4   # decimals sent per trail coordinate: far below a pixel on any of the lab's boxes


def inline(arrays) -> list[list[float]]:
    """Per-chain coordinates as plain lists: an array per chain would travel as a websocket frame of its
    own (a Race frame of three plots took 215 frames), lists go inline in the frame's message."""
    return [np.round(np.asarray(a, dtype=np.float64), TRAIL_DIGITS).tolist() for a in arrays]


class ChainPlot(SurfacePlot):
    """A ``SurfacePlot`` with coloured trails per chain; rejected moves are marked with a cross."""

    def __init__(self, title: str = "", height: int = 500, width: int = 540,
                 on_tap: Callable[[float, float], None] | None = None, surface_of: SurfacePlot | None = None,
                 hint: str = WAITING_HINT):
        super().__init__(title=title, height=height, width=width, points_legend=None, chains_legend=None,
                         surface_of=surface_of, hint=hint)
        self.trails = ColumnDataSource({"xs": [], "ys": [], "color": []})
        self.heads = ColumnDataSource({"x": [], "y": [], "color": []})
        self.rejected = ColumnDataSource({"x": [], "y": []})
        self.figure.multi_line("xs", "ys", source=self.trails, line_color="color", line_width=1.5, alpha=0.8)
        self.figure.scatter("x", "y", source=self.heads, fill_color="color", line_color="white", size=7)
        self.figure.scatter("x", "y", source=self.rejected, marker="x", line_color="#ff2d2d", size=11,
                            line_width=2, legend_label="rejected move")
        self.figure.legend.location = "top_left"
        if on_tap is not None:
            self.figure.on_event(Tap, lambda event: on_tap(float(event.x), float(event.y)))

    def show_trails(self, trails: dict, positions: np.ndarray, accepted: np.ndarray, version: int | None) -> None:
        """Move the trails and heads and mark the rejected moves when ``version`` (of the chains) is new; the
        colour columns are only sent when the number of chains changes."""
        if not self.sent.due("chains", version):   # unchanged while paused
            return
        n = len(trails["xs"])
        heads = positions[:n]
        xs, ys = inline(trails["xs"]), inline(trails["ys"])
        if len(self.trails.data["xs"]) == n:  # same chains: send the moved coordinates only
            self.trails.data.update(xs=xs, ys=ys)
            self.heads.data.update(x=heads[:, 0], y=heads[:, 1])
        else:
            colors = [Category20_20[i % 20] for i in range(n)]
            self.trails.data = {"xs": xs, "ys": ys, "color": colors}
            self.heads.data = {"x": heads[:, 0], "y": heads[:, 1], "color": colors}
        rejected = heads[~accepted[:n]]
        self.rejected.data = {"x": rejected[:, 0], "y": rejected[:, 1]}
