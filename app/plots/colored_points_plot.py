"""A density surface with points coloured by a value (for example the latent of each point)."""
from __future__ import annotations

import numpy as np
from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper
from bokeh.palettes import Plasma256

from app.plots.surface_plot import SurfacePlot


class ColoredPointsPlot(SurfacePlot):
    """``SurfacePlot`` plus a scatter layer whose colour maps a value; ``show_colored`` patches it."""

    def __init__(self, value_label: str = "z", name: str = "colored", **kwargs):
        kwargs.setdefault("points_legend", None)
        kwargs.setdefault("chains_legend", None)
        super().__init__(**kwargs)
        self.figure.name = name
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
