"""Live training curves: a Bokeh figure whose source grows by streaming only the new rows, and an
optional dashed tail from the last row to a provisional point (an estimate that is still moving)."""
from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, Range1d
from bokeh.palettes import Category10_10
from bokeh.core.properties import value
from bokeh.plotting import figure

from app.plots.steady_range import SteadyRange

ROLLOVER = 5000   # rows kept per curve


class LiveCurves:
    """Curves sharing an x column ``step``; ``update(history)`` streams rows newer than the last seen."""

    def __init__(self, series: dict[str, str], title: str = "", height: int = 220, width: int = 500):
        self.series = series
        self.source = ColumnDataSource({"step": [], **{key: [] for key in series}})
        self.figure = figure(title=title, height=height, width=width, tools="pan,wheel_zoom,reset,save",
                             toolbar_location="above", x_axis_label="iteration", name="curves",
                             x_range=Range1d(0, 1), y_range=Range1d(0, 1))
        # steady ranges set with the data: one paint per frame, axes that do not jitter
        self.x_range, self.y_range = SteadyRange(self.figure.x_range), SteadyRange(self.figure.y_range)
        self.tail = ColumnDataSource({"step": [], **{key: [] for key in series}})
        for (key, label), color in zip(series.items(), Category10_10):
            self.figure.line("step", key, source=self.source, legend_label=label, color=color, line_width=2)
            self.figure.line("step", key, source=self.tail, color=color, line_width=2, line_dash="dashed")
            self.figure.scatter("step", key, source=self.tail, color=color, size=5)
        self.figure.legend.location = "top_right"
        self.figure.legend.click_policy = "hide"
        self.last_step = -1.0
        self._tail_shown: tuple | None = None   # the point and last row the tail was drawn with

    def update(self, history: dict[str, np.ndarray]) -> None:
        """Stream the rows of ``history`` newer than what is shown; a restart clears the curves."""
        steps = history.get("step")
        if steps is None or len(steps) == 0:
            if self.last_step >= 0:
                self.clear()
            return
        if steps[-1] < self.last_step:
            self.clear()
        new = steps > self.last_step
        if new.any():
            self.source.stream({"step": steps[new], **{k: history[k][new] for k in self.series}},
                               rollover=ROLLOVER)
            self.last_step = float(steps[-1])
            shown = slice(-ROLLOVER, None)
            self.x_range.fit_values(steps[shown])
            self.y_range.fit_values(*(history[k][shown] for k in self.series if k in history))

    def show_tail(self, point: dict[str, float] | None) -> None:
        """A dashed segment from the last row to ``point`` (``step`` and a value for some of the series), or none."""
        last = {key: column[-1:] for key, column in self.source.data.items()}
        if point is None or not len(last["step"]) or point["step"] < last["step"][0]:
            if len(self.tail.data["step"]):
                self.tail.data = {"step": [], **{key: [] for key in self.series}}
            self._tail_shown = None
            return
        shown = (dict(point), {key: list(column) for key, column in last.items()})
        if shown == self._tail_shown:   # a repeated snapshot: nothing goes out again
            return
        self._tail_shown = shown
        point = {key: point.get(key, float("nan")) for key in ("step", *self.series)}   # a series without one: no tail
        self.tail.data = {key: [*last[key], point[key]] for key in point}
        self.x_range.fit_values(np.asarray([self.source.data["step"][0], point["step"]], dtype=float))
        self.y_range.fit_values(*(self.source.data[key] for key in self.series), [point[k] for k in self.series])

    def relabel(self, labels: dict[str, str]) -> None:
        """Rename the legend entries of the series in ``labels`` (keys as in ``series``)."""
        for key, item in zip(self.series, self.figure.legend.items):
            if key in labels and getattr(item.label, "value", None) != labels[key]:
                item.label = value(labels[key])

    def clear(self) -> None:
        self.source.data = {"step": [], **{key: [] for key in self.series}}
        self.tail.data = {"step": [], **{key: [] for key in self.series}}
        self._tail_shown = None
        self.last_step = -1.0
