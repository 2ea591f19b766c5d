"""Focus on one plot: a select that shows a page's chosen plot large and alone, and plot enlarging for talks."""
from __future__ import annotations

import panel as pn
from bokeh.models import Plot

ALL_PLOTS = "All plots"
FOCUS_SCALE = 1.6
SIZE_ATTRS = ("width", "height", "frame_width", "frame_height", "min_width", "max_width")


def enlarge(figure: Plot, factor: float, originals: dict[str, dict]) -> None:
    """Scale a Bokeh figure's size and text by ``factor`` relative to its size when first enlarged.

    ``originals`` keeps each figure's first size (by model id), so scaling never compounds.
    """
    original = originals.get(figure.id)
    if original is None:
        original = {a: getattr(figure, a) for a in SIZE_ATTRS}
        original["title"] = figure.title.text_font_size if figure.title is not None else None
        originals[figure.id] = original
    for attr in SIZE_ATTRS:
        if original[attr] is not None:
            setattr(figure, attr, int(original[attr] * factor))
    if figure.title is not None and isinstance(original["title"], str) and original["title"].endswith("px"):
        figure.title.text_font_size = f"{float(original['title'][:-2]) * factor:g}px"
    for axis in (*figure.xaxis, *figure.yaxis):
        axis.major_label_text_font_size = f"{11 * factor:g}px"
        axis.axis_label_text_font_size = f"{13 * factor:g}px"


def figure_panes(view: pn.viewable.Viewable) -> list[pn.pane.Bokeh]:
    """The Bokeh panes of a page's view that hold a figure with a title or name."""
    return [p for p in view.select(pn.pane.Bokeh) if isinstance(p.object, Plot)]


def holder(leaf):
    """What shows or hides ``leaf``: a Bokeh pane follows its figure's ``visible``, others their own."""
    return leaf.object if isinstance(leaf, pn.pane.Bokeh) else leaf


class FocusControl:
    """A select of a page's plots; choosing one hides everything else and shows it larger.

    ``base_scale`` enlarges every plot of the view from the start (presentation mode).
    """

    def __init__(self, view: pn.viewable.Viewable, base_scale: float = 1.0):
        self.view = view
        self.base_scale = base_scale
        self.originals: dict[str, dict] = {}
        self.panes: dict[str, pn.pane.Bokeh] = {}
        for pane in figure_panes(view):
            figure = pane.object
            label = (figure.title.text if figure.title is not None else "") or figure.name or "plot"
            while label in self.panes:
                label += " ′"
            self.panes[label] = pane
        # every pane and widget of the view except alerts (messages stay visible), and how each was shown
        self.leaves = [o for o in view.select(lambda o: isinstance(o, (pn.pane.PaneBase, pn.widgets.Widget)))
                       if not isinstance(o, pn.pane.Alert)]
        self.shown = {id(leaf): holder(leaf).visible for leaf in self.leaves}     # to restore on "All plots"
        self.select = pn.widgets.Select(label="Focus on one plot", options=[ALL_PLOTS, *self.panes],
                                        value=ALL_PLOTS, sizing_mode="stretch_width")
        self.select.param.watch(lambda e: self._apply(e.new), "value")
        if base_scale != 1.0:
            for pane in self.panes.values():
                enlarge(pane.object, base_scale, self.originals)

    @property
    def chosen(self) -> str:
        return "" if self.select.value == ALL_PLOTS else self.select.value

    def choose(self, label: str) -> bool:
        """Focus the plot labelled ``label`` (or every plot for ``All plots``); False when there is none."""
        if label not in self.select.options:
            return False
        self.select.value = label
        return True

    def _apply(self, label: str) -> None:
        chosen = self.panes.get(label)
        for leaf in self.leaves:
            holder(leaf).visible = self.shown[id(leaf)] if chosen is None else leaf is chosen
        for pane in self.panes.values():
            enlarge(pane.object, self.base_scale * (FOCUS_SCALE if pane is chosen else 1.0), self.originals)
