"""A live 2D surface (image glyph) with data points and chains overlaid, updated by patching sources.

Until its first grid the surface is an empty frame over the page's box with a hint in its middle.
"""
from __future__ import annotations

import numpy as np
from bokeh.models import ColorBar, ColumnDataSource, Legend, LegendItem, LinearColorMapper, Range1d
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from app.plots.framed import DEFAULT_BOX, WAITING_HINT, FramedPlot
from app.plots.sent_versions import SentVersions


def empty_image() -> dict[str, list]:
    """An image source's columns with no image: nothing drawn."""
    return {"image": [], "x": [], "y": [], "dw": [], "dh": []}


class SurfacePlot(FramedPlot):
    """A Bokeh figure built once: ``show_grid``, ``show_points`` and ``show_chains`` patch its sources,
    each only when the version of its part differs from the one it last sent."""

    def __init__(self, title: str = "", height: int = 500, width: int = 540, points_legend: str | None = "data",
                 chains_legend: str | None = "chains", surface_of: SurfacePlot | None = None,
                 bounds=DEFAULT_BOX, hint: str = WAITING_HINT):
        """``surface_of``: draw that plot's surface (its image source and colour mapper) instead of one of
        our own; the grid then travels to the browser once for both, and ``show_grid`` here sets only
        the title and ranges. ``bounds`` and ``hint``: the empty frame shown until the first grid."""
        (x0, x1), (y0, y1) = bounds
        self.owns_surface = surface_of is None
        self.mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0) if surface_of is None \
            else surface_of.mapper
        self.figure = figure(title=title, height=height, width=width, match_aspect=True,
                             tools="pan,wheel_zoom,box_zoom,reset,save", toolbar_location="above",
                             output_backend="canvas", name="surface",
                             x_range=Range1d(x0, x1), y_range=Range1d(y0, y1))
        self.image = surface_of.image if surface_of is not None else ColumnDataSource(empty_image())
        self.points = ColumnDataSource({"x": [], "y": []})
        self.chains = ColumnDataSource({"x": [], "y": []})
        self.figure.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.image,
                          color_mapper=self.mapper)
        self.figure.add_layout(Legend(items=[], location="top_left", background_fill_alpha=0.5))
        points = self.figure.scatter("x", "y", source=self.points, size=3, color="white", alpha=0.45)
        chains = self.figure.scatter("x", "y", source=self.chains, size=5, color="#ff5a36", alpha=0.9)
        for renderer, label in ((points, points_legend), (chains, chains_legend)):
            if label:
                self.figure.legend.items.append(LegendItem(label=label, renderers=[renderer]))
        if self.figure.legend:
            self.figure.legend.location = "top_left"
            self.figure.legend.background_fill_alpha = 0.5
        self.figure.add_layout(ColorBar(color_mapper=self.mapper, width=10), "right")
        self.figure.grid.visible = False
        self.add_hint(hint, bounds)
        self.sent = SentVersions()

    def show_empty(self, bounds, label: str, version: int | None) -> None:
        """No surface to draw (the page has none for this data): an empty frame titled ``label``; ``version``
        is that of the part that has no surface."""
        if self.owns_surface and self.sent.due("grid", version):
            self.image.data = empty_image()
        self.retitle(label)
        (x0, x1), (y0, y1) = bounds
        self.set_ranges(x0, x1, y0, y1)

    def show_grid(self, grid: np.ndarray, bounds, low: float, high: float, label: str, version: int | None) -> None:
        """The surface ``grid`` over ``bounds`` (sent when ``version`` is new), its colour range and title."""
        (x0, x1), (y0, y1) = bounds
        if self.owns_surface:
            if self.sent.due("grid", version):
                self.image.data = {"image": [grid], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}
            if high <= low:
                high = low + 1e-6
            self.mapper.update(low=float(low), high=float(high))
        self.retitle(label)
        self.set_ranges(x0, x1, y0, y1)

    def show_points(self, xy: np.ndarray, version: int | None) -> None:
        if self.sent.due("points", version):
            self.points.data = {"x": xy[:, 0], "y": xy[:, 1]}

    def show_chains(self, xy: np.ndarray, version: int | None) -> None:
        if self.sent.due("chains", version):
            self.chains.data = {"x": xy[:, 0], "y": xy[:, 1]}
