"""A live 2D surface (image glyph) with data points and chains overlaid, updated by patching sources,
and one with points coloured by a value (for example the latent of each point).

Until its first grid the surface is an empty frame over the page's box with a hint in its middle.
"""
from __future__ import annotations

import numpy as np
from bokeh.models import ColorBar, ColumnDataSource, Legend, LegendItem, LinearColorMapper, Range1d
from bokeh.palettes import Plasma256, Viridis256
from bokeh.plotting import figure

from app.plots.framed import WAITING_HINT, FramedPlot, empty_image


class SurfacePlot(FramedPlot):
    """A Bokeh figure built once: ``show_grid``, ``show_points`` and ``show_chains`` patch its sources."""

    def __init__(self, title: str = "", height: int = 500, width: int = 540, points_legend: str | None = "data",
                 chains_legend: str | None = "chains", surface_of: SurfacePlot | None = None,
                 hint: str = WAITING_HINT, name: str = "surface"):
        """``surface_of``: draw that plot's surface (its image source and colour mapper) instead of one of
        our own; the grid then travels to the browser once for both, and ``show_grid`` here sets only
        the title and ranges. ``hint``: the text of the empty frame shown until the first grid."""
        self.owns_surface = surface_of is None
        self.mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0) if surface_of is None \
            else surface_of.mapper
        self.figure = figure(title=title, height=height, width=width, match_aspect=True,
                             tools="pan,wheel_zoom,box_zoom,reset,save", toolbar_location="above",
                             output_backend="canvas", name=name,
                             x_range=Range1d(), y_range=Range1d())
        self.image = surface_of.image if surface_of is not None else ColumnDataSource(empty_image())
        self.points = ColumnDataSource({"x": [], "y": []})
        self.chains = ColumnDataSource({"x": [], "y": []})
        self.figure.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.image,
                          color_mapper=self.mapper)
        points = self.figure.scatter("x", "y", source=self.points, size=3, color="white", alpha=0.45)
        chains = self.figure.scatter("x", "y", source=self.chains, size=5, color="#ff5a36", alpha=0.9)
        items = [LegendItem(label=label, renderers=[r]) for r, label in
                 ((points, points_legend), (chains, chains_legend)) if label]
        self.figure.add_layout(Legend(items=items, location="top_left", background_fill_alpha=0.5))
        self.figure.add_layout(ColorBar(color_mapper=self.mapper, width=10), "right")
        self.frame(hint)

    def show_chains(self, xy: np.ndarray, version: int | None) -> None:
        if self.sent.due("chains", version):
            self.chains.data = {"x": xy[:, 0], "y": xy[:, 1]}


class ColoredPointsPlot(SurfacePlot):
    """``SurfacePlot`` plus a scatter layer whose colour maps a value; ``show_colored`` patches it."""

    def __init__(self, value_label: str = "z", name: str = "colored", **kwargs):
        super().__init__(name=name, points_legend=None, chains_legend=None, **kwargs)
        self.figure.css_classes = [f"ebm-{name}"]
        self.value_mapper = LinearColorMapper(palette=Plasma256, low=-1.0, high=1.0)
        self.colored = ColumnDataSource({"x": [], "y": [], "value": []})
        self.figure.scatter("x", "y", source=self.colored, size=5, alpha=0.9, line_color="black", line_width=0.3,
                            color={"field": "value", "transform": self.value_mapper})
        self.figure.add_layout(ColorBar(color_mapper=self.value_mapper, width=10, title=value_label), "left")

    def show_colored(self, xy: np.ndarray, values: np.ndarray, version: int | None) -> None:
        """Points coloured by their values, sent when ``version`` is new."""
        if not self.sent.due("colored", version):
            return
        self.colored.data = {"x": xy[:, 0], "y": xy[:, 1], "value": values}
        if len(values):
            low, high = float(np.quantile(values, 0.02)), float(np.quantile(values, 0.98))
            self.value_mapper.update(low=low, high=max(high, low + 1e-6))
