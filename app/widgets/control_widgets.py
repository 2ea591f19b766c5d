"""The widget of a declared control (``ebm_engine.runtime.controls``): label, help and range come from
its one declaration, the kind of widget from its type (see ``control``); ``LogSlider`` for a log-scale knob."""
from __future__ import annotations

import math
from typing import Any

import panel as pn
import param
from bokeh.models import CustomJSTickFormatter

from ebm_engine.runtime.controls import is_log

WIDEST_INT_SLIDER = 1000   # whole numbers with a wider range get a number box
DIGITS = 3          # significant digits of a value set by dragging, and of the label
# slider step in log10 units: 2.3 % of the value, so that one press of an arrow key changes the value
# shown with DIGITS significant digits (a finer step rounded back to the same value on each press)
LOG_STEP = 0.01
# the label shows 10^position, the knob's own value, with DIGITS significant digits
VALUE_LABEL = f"return String(Number(Math.pow(10, tick).toPrecision({DIGITS})))"


def control(owner: param.Parameterized, name: str, buttons: bool = False,
            widget: type[pn.widgets.Widget] | None = None, **overrides: Any) -> pn.viewable.Viewable:
    """A widget bound to ``owner.<name>``: of the parameter's kind, or ``widget``; ``overrides`` pass to
    the widget (``label``, ``start``, ...)."""
    parameter = owner.param[name]
    common = {"label": parameter.label, "description": parameter.doc, **overrides}
    w = pn.widgets
    if widget is not None:
        return _bound(widget, parameter, **common)
    if isinstance(parameter, param.Selector):
        if buttons:
            return _bound(w.RadioButtonGroup, parameter, color="primary", variant="outline",
                      sizing_mode="stretch_width", **common)
        return _bound(w.Select, parameter, **common)
    if isinstance(parameter, param.Boolean):
        return _bound(w.Checkbox, parameter, **common)
    if isinstance(parameter, param.Number) and is_log(parameter):
        low, high = parameter.softbounds or parameter.bounds
        label = common.pop("label")
        common.pop("description", None)    # a FloatSlider over log10 values: its help would read oddly
        return LogSlider(owner, name, label, common.pop("start", low), common.pop("end", high), **common).widget
    if isinstance(parameter, param.Integer):
        low, high = parameter.softbounds or parameter.bounds
        if high - low > WIDEST_INT_SLIDER and "start" not in common:
            return _bound(w.IntInput, parameter, **common)
        return _bound(w.IntSlider, parameter, **common)
    if isinstance(parameter, param.Number):
        return _bound(w.FloatSlider, parameter, **common)
    return _bound(w.TextInput, parameter, **common)


def _bound(widget: type[pn.widgets.Widget], parameter: param.Parameter, **params: Any) -> pn.widgets.Widget:
    """``widget`` bound to ``parameter``; the help text goes where the widget has a place for it."""
    description = params.pop("description", None)
    if description and "description" in widget.param:
        params["description"] = description
    return widget.from_param(parameter, **params)


def rounded(value: float) -> float:
    """``value`` to ``DIGITS`` significant digits: 0.287, not 0.28708199."""
    return float(f"{value:.{DIGITS}g}")


class LogSlider:
    """A ``FloatSlider`` over log10 of ``owner.<name>``, kept in step with that parameter both ways.

    The parameter stays the knob (links and the engine see its value); the slider spans ``start`` to
    ``end`` and widens to take in a value outside them, as a link or the auto-tuner may set.
    """

    def __init__(self, owner: param.Parameterized, name: str, label: str, start: float, end: float,
                 **widget_params):
        self.owner, self.name = owner, name
        self.range = (math.log10(start), math.log10(end))
        self._following = False
        widget_params.setdefault("sizing_mode", "stretch_width")
        self.widget = pn.widgets.FloatSlider(label=label, step=LOG_STEP,
                                             format=CustomJSTickFormatter(code=VALUE_LABEL),
                                             **self._position(getattr(owner, name)), **widget_params)
        self.widget.param.watch(self._moved, "value")
        owner.param.watch(self._follow, name)

    def _position(self, value: float) -> dict[str, float]:
        at = math.log10(value)
        return {"start": min(self.range[0], at), "end": max(self.range[1], at), "value": at}

    def _moved(self, event) -> None:
        if not self._following:
            value = rounded(10 ** event.new)
            if value != getattr(self.owner, self.name):
                setattr(self.owner, self.name, value)

    def _follow(self, event) -> None:
        """Move the slider to a value set elsewhere, without sending it back."""
        if event.new is None or event.new <= 0 or rounded(10 ** self.widget.value) == rounded(event.new):
            return
        self._following = True
        try:
            self.widget.param.update(**self._position(event.new))
        finally:
            self._following = False
