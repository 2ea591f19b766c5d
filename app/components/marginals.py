"""Marginal histograms of the chains' draws against the exact marginal densities."""
from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure


class MarginalPlot:
    """One axis: a histogram (quads) of recent draws and the exact marginal as a line."""

    def __init__(self, axis: str, height: int = 190, width: int = 270):
        self.axis = axis
        self.hist = ColumnDataSource({"left": [], "right": [], "top": []})
        self.exact = ColumnDataSource({"x": [], "y": []})
        self.figure = figure(title=f"marginal of {axis}", height=height, width=width, tools="save",
                             toolbar_location="right", toolbar_inner=True,
                             name=f"marginal-{axis}")
        self.figure.toolbar.update(logo=None, autohide=True)   # the save button floats over the plot
        self.figure.quad(left="left", right="right", top="top", bottom=0, source=self.hist,
                         fill_color="#4c78a8", line_color="white", alpha=0.7, legend_label="chains")
        self.figure.line("x", "y", source=self.exact, color="#e45756", line_width=2, legend_label="exact")
        self.figure.legend.location = "top_right"
        self.figure.legend.label_text_font_size = "8pt"

    def update(self, snapshot: dict) -> None:
        a = self.axis
        edges = snapshot[f"edges_{a}"]
        self.hist.data = {"left": edges[:-1], "right": edges[1:], "top": snapshot[f"hist_{a}"]}
        if f"marginal_{a}" in snapshot and snapshot.get("exact", True):
            self.exact.data = {"x": snapshot[f"grid_{a}"], "y": snapshot[f"marginal_{a}"]}
        else:
            self.exact.data = {"x": np.zeros(0), "y": np.zeros(0)}


class TracePlot:
    """The mean energy of the chains over recent steps."""

    def __init__(self, height: int = 190, width: int = 270):
        self.source = ColumnDataSource({"step": [], "energy": []})
        self.figure = figure(title="energy trace (mean over chains)", height=height, width=width,
                             tools="save", toolbar_location="right", toolbar_inner=True, x_axis_label="step",
                             name="trace")
        self.figure.toolbar.update(logo=None, autohide=True)
        self.figure.line("step", "energy", source=self.source, color="#54a24b", line_width=1.5)

    def update(self, trace: np.ndarray, end: int) -> None:
        steps = np.arange(end - len(trace), end)
        self.source.data = {"step": steps, "energy": trace}
