"""A live score field: an image (energy or density) with arrows (``hv.VectorField``) and points on top.

HoloViews renders the ``hv.Image * hv.VectorField`` overlay once; later frames patch the Bokeh
sources of that figure (the image, the arrow segments laid out as HoloViews lays them out, and two
scatter layers), so nothing is re-rendered per frame, and each source only when its part's version is new.
Until its first grid the plot is an empty frame over the page's box with a hint in its middle.
"""
from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, Legend, LegendItem, Range1d

from app.plots.framed import WAITING_HINT, FramedPlot, empty_image

ARROW_FILL = 0.9        # the longest arrow fills this share of a grid cell


def arrow_segments(field: dict, cell: float, reference: float) -> dict[str, np.ndarray]:
    """Segment ends for arrows from each point along ``angle``, length saturating in the magnitude.

    The length is ``ARROW_FILL · cell · m / (m + reference)``: equal magnitudes draw equally long
    arrows on every plot that uses the same ``reference``. The layout is HoloViews' (pivot at the
    tail, two head strokes at π/4).
    """
    x, y, angle, mag = (np.asarray(field[k], dtype=np.float64) for k in ("x", "y", "angle", "magnitude"))
    length = ARROW_FILL * cell * mag / (mag + max(reference, 1e-12))
    tip_x, tip_y = x + np.cos(angle) * length, y + np.sin(angle) * length
    head = length / 4.0
    x1 = np.concatenate([x, tip_x - np.cos(angle + np.pi / 4) * head, tip_x - np.cos(angle - np.pi / 4) * head])
    y1 = np.concatenate([y, tip_y - np.sin(angle + np.pi / 4) * head, tip_y - np.sin(angle - np.pi / 4) * head])
    return {"x0": np.tile(tip_x, 3), "y0": np.tile(tip_y, 3), "x1": x1, "y1": y1}


class VectorFieldPlot(FramedPlot):
    """Image + arrows + data points + samples; ``show_*`` methods patch the sources of one figure."""

    def __init__(self, title: str = "", width: int = 500, height: int = 470, points_legend: str | None = "data",
                 samples_legend: str | None = "samples", name: str = "field"):
        # imported here: only sessions that open a score field pay for loading HoloViews
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh renderer hv.render uses)

        image = hv.Image(np.zeros((2, 2)), bounds=(-4, -4, 4, 4)).opts(cmap="viridis", colorbar=True, clabel="")
        field = hv.VectorField(([0.0], [0.0], [0.0], [0.0]), vdims=["Angle", "Magnitude"]).opts(
            magnitude="Magnitude", rescale_lengths=False, pivot="tail", color="white", line_width=1.4)
        self.figure = hv.render((image * field).opts(width=width, height=height, title=title, toolbar="above",
                                                     xlabel="x₁", ylabel="x₂"))
        self.figure.name = name
        self.figure.css_classes = [f"ebm-{name}"]
        by_glyph = {type(r.glyph).__name__: r for r in self.figure.renderers}
        self.image = by_glyph["Image"].data_source
        self.mapper = by_glyph["Image"].glyph.color_mapper
        self.arrows = by_glyph["Segment"].data_source
        self.image.data = empty_image()       # HoloViews laid out a placeholder: nothing is drawn before data
        self.arrows.data = {"x0": [], "y0": [], "x1": [], "y1": []}
        self.figure.x_range, self.figure.y_range = Range1d(), Range1d()
        self.points = ColumnDataSource({"x": [], "y": []})
        self.samples = ColumnDataSource({"x": [], "y": []})
        points = self.figure.scatter("x", "y", source=self.points, size=3, color="white", alpha=0.35)
        samples = self.figure.scatter("x", "y", source=self.samples, size=4, color="#ff5a36", alpha=0.85)
        items = [LegendItem(label=label, renderers=[r]) for r, label in
                 ((points, points_legend), (samples, samples_legend)) if label]
        if items:
            self.figure.add_layout(Legend(items=items, location="top_left", background_fill_alpha=0.5))
        self.frame(WAITING_HINT)

    def show_arrows(self, field: dict | None, bounds, reference: float, version: int | None) -> None:
        """Arrows on the field's grid (``None`` clears them); ``reference`` sets the length scale; sent when
        ``version`` (of the part holding the field and its reference) is new."""
        if not self.sent.due("arrows", version):
            return
        if field is None or len(field["x"]) == 0:
            self.arrows.data = {"x0": [], "y0": [], "x1": [], "y1": []}
            return
        (x0, x1), _ = bounds
        cell = (x1 - x0) / np.sqrt(len(field["x"]))
        self.arrows.data = arrow_segments(field, cell, reference)

    def show_samples(self, xy: np.ndarray, version: int | None) -> None:
        if self.sent.due("samples", version):
            self.samples.data = {"x": xy[:, 0], "y": xy[:, 1]}
