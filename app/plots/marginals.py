"""Marginal histograms of the chains' draws against the exact marginal densities."""
from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, Range1d
from bokeh.plotting import figure

from app.plots.sent_versions import SentVersions
from app.plots.steady_range import SteadyRange


class MarginalPlot:
    """One axis: a histogram (quads) of recent draws and the exact marginal as a line."""

    def __init__(self, axis: str, height: int = 190, width: int = 270):
        self.axis = axis
        self.hist = ColumnDataSource({"left": [], "right": [], "top": []})
        self.exact = ColumnDataSource({"x": [], "y": []})
        self.figure = figure(title=f"marginal of {axis}", height=height, width=width, tools="save",
                             toolbar_location="right", toolbar_inner=True,
                             name=f"marginal-{axis}", y_range=Range1d(0, 1))
        self.y_range = SteadyRange(self.figure.y_range, floor=0.0)
        self.figure.toolbar.update(logo=None, autohide=True)   # the save button floats over the plot
        self.figure.quad(left="left", right="right", top="top", bottom=0, source=self.hist,
                         fill_color="#4c78a8", line_color="white", alpha=0.7, legend_label="chains")
        self.figure.line("x", "y", source=self.exact, color="#e45756", line_width=2, legend_label="exact")
        self.figure.legend.location = "top_right"
        self.figure.legend.label_text_font_size = "8pt"
        self.sent = SentVersions()

    def update(self, snapshot: dict, hist_version: int | None, exact_version: int | None) -> None:
        """Send the histogram when ``hist_version`` (of the chains' draws) is new, the exact marginal when
        ``exact_version`` (of the density) is."""
        a = self.axis
        edges, top = snapshot[f"edges_{a}"], snapshot[f"hist_{a}"]
        if self.sent.due("hist", hist_version):
            self.hist.data = {"left": edges[:-1], "right": edges[1:], "top": top}
        exact = f"marginal_{a}" in snapshot and snapshot.get("exact", True)
        x, y = (snapshot[f"grid_{a}"], snapshot[f"marginal_{a}"]) if exact else (np.zeros(0), np.zeros(0))
        if self.sent.due("exact", exact_version):
            self.exact.data = {"x": x, "y": y}
        self.y_range.fit_values(top, y)


class TracePlot:
    """The mean energy of the chains over recent steps; new steps are streamed, not the whole trace."""

    def __init__(self, height: int = 190, width: int = 270, length: int = 500):
        self.length = length
        self.source = ColumnDataSource({"step": [], "energy": []})
        self.figure = figure(title="energy trace (mean over chains)", height=height, width=width,
                             tools="save", toolbar_location="right", toolbar_inner=True, x_axis_label="step",
                             name="trace", x_range=Range1d(0, 1), y_range=Range1d(0, 1))
        self.y_range = SteadyRange(self.figure.y_range)
        self.figure.toolbar.update(logo=None, autohide=True)
        self.figure.line("step", "energy", source=self.source, color="#54a24b", line_width=1.5)

    def update(self, trace: np.ndarray, end: int) -> None:
        """``trace`` holds the mean energies of the steps up to ``end``; a shorter history (restarted
        chains) replaces what is shown."""
        steps = np.arange(end - len(trace), end)
        shown_energy = trace[-self.length:]
        if len(shown_energy):   # set with the data, in the same message: one paint per frame
            self.y_range.fit_values(shown_energy)
            self.figure.x_range.update(start=float(max(end - self.length, steps[0])),
                                       end=float(max(end - 1, steps[0] + 1)))
        shown = self.source.data
        if len(shown["step"]) and len(steps):
            overlap = np.flatnonzero(steps == shown["step"][-1])
            if len(overlap) and trace[overlap[0]] == shown["energy"][-1]:   # the same trace, grown
                new = steps > shown["step"][-1]
                if new.any():
                    self.source.stream({"step": steps[new], "energy": trace[new]}, rollover=self.length)
                return
        self.source.data = {"step": steps[-self.length:], "energy": trace[-self.length:]}
