"""What every 2D plot over a box shares: the box's ranges, and a hint in the middle of the empty frame
until the first data arrives."""
from __future__ import annotations

from bokeh.models import Label

WAITING_HINT = "press Play, or Start from pretrained"
SAMPLING_HINT = "press Play"      # pages that sample a given energy: nothing to load
DEFAULT_BOX = ((-4.0, 4.0), (-4.0, 4.0))


def hint_label(text: str, bounds) -> Label:
    """Grey text centred on the box ``bounds``, readable on the light and the dark theme."""
    (x0, x1), (y0, y1) = bounds
    return Label(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=text, text_align="center", text_baseline="middle",
                 text_color="#8a8a8a", text_font_size="15px", name="waiting-hint")


class FramedPlot:
    """A mixin for a plot with a ``figure`` over a box: ``add_hint`` once, then ``show_frame`` before the
    first data, ``retitle`` (which removes the hint) and ``set_ranges`` with it."""

    def add_hint(self, text: str, bounds) -> None:
        self.hint = hint_label(text, bounds)
        self.figure.add_layout(self.hint)
        self._bounds = None

    def show_frame(self, bounds) -> None:
        """Before the first grid: the empty frame over ``bounds``, the hint in its middle."""
        (x0, x1), (y0, y1) = bounds
        self.hint.update(x=(x0 + x1) / 2, y=(y0 + y1) / 2)
        self.set_ranges(x0, x1, y0, y1)

    def retitle(self, label: str) -> None:
        """The first data has come: no hint; the title says what is drawn."""
        if self.hint.visible:
            self.hint.visible = False
        if self.figure.title.text != label:
            self.figure.title.text = label

    def set_ranges(self, x0: float, x1: float, y0: float, y1: float) -> None:
        if (x0, x1, y0, y1) != self._bounds:
            self._bounds = (x0, x1, y0, y1)
            self.figure.x_range.update(start=x0, end=x1)
            self.figure.y_range.update(start=y0, end=y1)
