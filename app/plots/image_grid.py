"""A grey-scale image plot (a mosaic of digits or filters) updated by patching its source."""
from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, LinearColorMapper, Range1d
from bokeh.palettes import Greys256
from bokeh.plotting import figure

from app.plots.sent_versions import SentVersions


class ImageGrid:
    """An axis-free figure showing one 2D array with square pixels, fitted into ``width`` × ``height``."""

    def __init__(self, title: str, width: int = 300, height: int = 300, name: str = "image-grid",
                 blank: tuple[int, int] | None = None):
        """``blank``: the shape of an empty (transparent) image that lays the frame out at its final aspect
        before the first image."""
        self.box = (width, height)
        self.mapper = LinearColorMapper(palette=Greys256[::-1], low=0.0, high=1.0, nan_color=(0, 0, 0, 0))
        # NaN pixels are transparent: an empty frame until the first image, not a filled square
        self.source = ColumnDataSource({"image": [np.full((2, 2), np.nan, np.float32)], "dw": [2], "dh": [2]})
        self.figure = figure(title=title, frame_width=width, frame_height=height, tools="save",
                             toolbar_location="right", toolbar_inner=True, x_range=Range1d(0, 2),
                             y_range=Range1d(0, 2), name=name, min_border=4)
        self.figure.toolbar.update(logo=None, autohide=True)   # a save button over the image, shown on hover
        self.figure.image(image="image", x=0, y=0, dw="dw", dh="dh", source=self.source, color_mapper=self.mapper)
        self.figure.axis.visible = False
        self.figure.grid.visible = False
        self.sent = SentVersions()
        if blank is not None:
            self._draw(np.full(blank, np.nan, np.float32))

    def show(self, image: np.ndarray, version: int | None) -> None:
        """Draw ``image`` when ``version`` differs from the one drawn."""
        if self.sent.due("image", version):
            self._draw(image)

    def _draw(self, image: np.ndarray) -> None:
        h, w = image.shape
        if (self.figure.x_range.end, self.figure.y_range.end) != (w, h):
            self.figure.x_range.update(start=0, end=w)
            self.figure.y_range.update(start=0, end=h)
            scale = min(self.box[0] / w, self.box[1] / h)
            self.figure.update(frame_width=max(20, round(w * scale)), frame_height=max(20, round(h * scale)))
        self.source.data = {"image": [image], "dw": [w], "dh": [h]}
