"""A grey-scale image plot (a mosaic of digits or filters) updated by patching its source."""
from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource, LinearColorMapper, Range1d
from bokeh.palettes import Greys256
from bokeh.plotting import figure


class ImageGrid:
    """An axis-free figure showing one 2D array; ``show(array)`` resizes the ranges to fit it."""

    def __init__(self, title: str, width: int = 300, height: int = 300, low: float = 0.0, high: float = 1.0,
                 name: str = "image-grid"):
        self.mapper = LinearColorMapper(palette=Greys256[::-1], low=low, high=high, nan_color=(0, 0, 0, 0))
        self.source = ColumnDataSource({"image": [np.zeros((2, 2), np.float32)], "dw": [2], "dh": [2]})
        self.figure = figure(title=title, width=width, height=height, tools="save", toolbar_location=None,
                             x_range=Range1d(0, 2), y_range=Range1d(0, 2), name=name, match_aspect=True)
        self.figure.image(image="image", x=0, y=0, dw="dw", dh="dh", source=self.source, color_mapper=self.mapper)
        self.figure.axis.visible = False
        self.figure.grid.visible = False

    def show(self, image: np.ndarray) -> None:
        h, w = image.shape
        if (self.figure.x_range.end, self.figure.y_range.end) != (w, h):
            self.figure.x_range.update(start=0, end=w)
            self.figure.y_range.update(start=0, end=h)
        self.source.data = {"image": [image], "dw": [w], "dh": [h]}
