"""Layouts that fit the window: figures that shrink to the width they are given, rows that wrap when full.

Pages are shown from a 1280-pixel projector to a wide desktop, and presentation mode enlarges every
figure: a fixed row of figures would run past the window's right edge. Figures in ``plot`` panes keep
their aspect and never grow past their own width; ``flow`` rows put their items side by side while
they fit and wrap the rest below.
"""
from __future__ import annotations

import panel as pn
from bokeh.models import Plot

MIN_SCALE = 0.5     # below half its width a figure's text and points get too small: its row wraps first


def flexible(min_width: int, max_width: int) -> dict:
    """Layout parameters of an item of a ``flow`` row that takes what the row leaves it, from ``min_width``
    (it wraps below when less is left) up to ``max_width``."""
    # Panel gives a stretching item its maximum width as its size: the row would wrap it whenever that
    # maximum does not fit. A flex basis of the minimum lets it sit beside what leaves at least that.
    return {"sizing_mode": "stretch_width", "min_width": min_width, "max_width": max_width,
            "styles": {"flex": f"1 1 {min_width}px"}}


def flow(*objects, min_width: int | None = None, max_width: int | None = None, **params) -> pn.FlexBox:
    """``objects`` side by side while they fit the width, the rest wrapped onto the next lines; with
    ``min_width`` and ``max_width``, a row that is itself a flexible item of an outer ``flow``."""
    if min_width is not None:
        params.update(flexible(min_width, max_width))
    params.setdefault("sizing_mode", "stretch_width")
    return pn.FlexBox(*objects, flex_wrap="wrap", align_items="flex-start", **params)


def stack(*objects, min_width: int, max_width: int, **params) -> pn.Column:
    """A column that is a flexible item of a ``flow`` row (see ``flexible``)."""
    return pn.Column(*objects, **flexible(min_width, max_width), **params)


def plot(figure: Plot) -> pn.pane.Bokeh:
    """A pane whose figure shrinks to a narrower space (keeping its aspect), never past ``MIN_SCALE``."""
    figure.update(sizing_mode="scale_width", max_width=figure.width, min_width=int(figure.width * MIN_SCALE))
    return pn.pane.Bokeh(figure)
