"""Overlaid score histograms (in-distribution and OOD sets) with a threshold you can drag or click to."""
from __future__ import annotations

from typing import Callable

import numpy as np
from bokeh.events import Tap
from bokeh.models import ColumnDataSource, Label, Span
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from app.plots.sent_versions import SentVersions

ID_COLOR = "#2b6cb0"


class ScoreHistogram:
    """One quad renderer per set on shared bins, built once; ``show`` patches their sources.

    Dragging the red threshold line (an editable ``Span``) or clicking the plot calls
    ``on_threshold(x)``; ``set_threshold`` moves the line from Python, ``set_probe`` the dashed line
    of the user's image.
    """

    def __init__(self, set_names: list[str], labels: dict[str, str], width: int = 800, height: int = 340,
                 on_threshold: Callable[[float], None] | None = None):
        self.figure = figure(width=width, height=height, tools="save", toolbar_location="right", toolbar_inner=True,
                             x_axis_label="score (higher = more out-of-distribution)", y_axis_label="density",
                             name="ood-histogram", title="Scores: test digits vs OOD sets")
        self.sent = SentVersions()
        self.figure.toolbar.update(logo=None, autohide=True)   # the save button floats over the plot
        colors = {"id": ID_COLOR, **{n: c for n, c in zip(set_names, Category10_10[1:] + Category10_10[:1])}}
        self.sources = {name: ColumnDataSource({"left": [], "right": [], "top": []}) for name in ["id", *set_names]}
        self.renderers = {name: self.figure.quad(
            left="left", right="right", top="top", bottom=0, source=source, fill_color=colors[name],
            line_color=colors[name], fill_alpha=0.45 if name == "id" else 0.3, line_alpha=0.8,
            legend_label="test digits (in-distribution)" if name == "id" else labels.get(name, name))
            for name, source in self.sources.items()}
        self.threshold = Span(location=0.0, dimension="height", line_color="#d33a2c", line_width=3,
                              editable=on_threshold is not None)
        self.probe = Span(location=0.0, dimension="height", line_color="#111111", line_width=2,
                          line_dash="dashed", visible=False)
        self.probe_label = Label(x=0.0, y=0, y_units="screen", text="your image", text_font_size="9pt",
                                 x_offset=4, y_offset=4, visible=False)
        self.figure.add_layout(self.threshold)
        self.figure.add_layout(self.probe)
        self.figure.add_layout(self.probe_label)
        legend = self.figure.legend[0]
        legend.label_text_font_size = "8pt"
        legend.border_line_alpha = 0
        self.figure.add_layout(legend, "right")     # beside the plot, so it never hides a histogram
        self.on_threshold = on_threshold
        self._placing = False
        if on_threshold is not None:
            self.figure.on_event(Tap, self._tapped)
            self.threshold.on_change("location", self._dragged)

    def _tapped(self, event) -> None:
        if event.x is not None:
            self.on_threshold(float(event.x))

    def _dragged(self, _attr, _old, new) -> None:
        if not self._placing and new is not None:
            self.on_threshold(float(new))

    def show(self, edges: np.ndarray, hist_id: np.ndarray, hist_sets: dict[str, np.ndarray],
             visible: set[str], version: int | None) -> None:
        """Show the ``visible`` sets; draw the histograms on shared bins when ``version`` (of the
        evaluation they come from) is new."""
        for name, renderer in self.renderers.items():
            shown = name == "id" or (hist_sets.get(name) is not None and name in visible)
            if renderer.visible != shown:
                renderer.visible = shown
        if not self.sent.due("histograms", version):
            return
        for name, source in self.sources.items():
            top = hist_id if name == "id" else hist_sets.get(name)
            source.data = {"left": edges[:-1], "right": edges[1:], "top": top} if top is not None else \
                {"left": [], "right": [], "top": []}

    def set_threshold(self, x: float) -> None:
        self._placing = True
        try:
            self.threshold.location = float(x)
        finally:
            self._placing = False

    def set_probe(self, x: float | None) -> None:
        shown = x is not None and np.isfinite(x)
        self.probe.visible = self.probe_label.visible = bool(shown)
        if shown:
            self.probe.location = self.probe_label.x = float(x)


def rates_at(thresholds: np.ndarray, rates: dict[str, np.ndarray], x: float) -> dict[str, float]:
    """The rates at threshold ``x``, read from rates precomputed at every distinct score
    (``thresholds`` ascending; they are constant between two scores): a lookup, no statistics."""
    i = int(np.clip(np.searchsorted(thresholds, x, side="right") - 1, 0, len(thresholds) - 1))
    return {name: float(values[i]) for name, values in rates.items()}
