"""Axis ranges that grow at once to fit the data and otherwise hold still."""
import math

from bokeh.models import Range1d

from app.plots.live_curves import LiveCurves
from app.plots.marginals import MarginalPlot
from app.plots.steady_range import SteadyRange

import numpy as np


def test_grows_at_once_with_headroom_and_holds_for_small_moves():
    r = SteadyRange(Range1d(0, 1))
    r.fit(2.0, 4.0)
    assert r.range.start < 2.0 and r.range.end > 4.0 and (r.range.reset_start, r.range.reset_end) == (r.range.start, r.range.end)
    before = (r.range.start, r.range.end)
    r.fit(2.1, 3.9)                      # inside, and more than half the span: no change
    assert (r.range.start, r.range.end) == before
    r.fit(2.0, 4.5)                      # outside: grows
    assert r.range.end > 4.5
    r.fit(3.0, 3.2)                      # a small part of the range: shrinks around the data
    assert r.range.start < 3.0 < 3.2 < r.range.end and r.range.end - r.range.start < 1.0


def test_a_single_value_gets_a_window_of_its_size_then_the_data_take_over():
    r = SteadyRange(Range1d(0, 1))
    r.fit(0.1139, 0.1139)                         # the first point of an accuracy curve
    assert r.range.start < 0.1139 < r.range.end
    assert r.range.end - r.range.start >= 0.1    # not a 1e-13-wide axis with unreadable ticks
    r.fit(250.0, 250.0)
    assert r.range.start <= 225.0 and r.range.end >= 275.0
    r.fit(0.0, 10.0)                              # a real span: fitted to the data again
    assert r.range.start == -1.0 and r.range.end == 11.0


def test_a_floor_pins_the_start_and_bad_values_are_ignored():
    r = SteadyRange(Range1d(0, 1), floor=0.0)
    r.fit(0.3, 5.0)
    assert r.range.start == 0.0 and r.range.end > 5.0
    end = r.range.end
    r.fit(0.0, float("nan"))
    r.fit(0.0, math.inf)
    r.fit_values(np.array([np.nan]))
    assert r.range.end == end


def test_live_curves_and_marginals_set_their_ranges_with_their_data():
    curves = LiveCurves({"loss": "loss"})
    curves.update({"step": np.arange(10.0), "loss": np.linspace(5, 1, 10)})
    x, y = curves.figure.x_range, curves.figure.y_range
    assert x.start <= 0 and x.end >= 9 and y.start <= 1 and y.end >= 5
    marginal = MarginalPlot("x")
    marginal.update({"edges_x": np.linspace(-2, 2, 5), "hist_x": np.array([0.1, 0.4, 0.3, 0.2]),
                     "grid_x": np.linspace(-2, 2, 9), "marginal_x": np.full(9, 0.6)}, 1, 2)
    assert marginal.figure.y_range.start == 0.0 and marginal.figure.y_range.end >= 0.6
