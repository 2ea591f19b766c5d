"""The widget of a declared control (``ebm_engine.runtime.controls``): label, help and range come from
its one declaration, the kind of widget from its type.

- a choice: a drop-down (``buttons=True``: a row of buttons, for a few options);
- a yes/no: a checkbox;
- a number on a log scale: a ``LogSlider`` over its bounds (``softbounds`` where given);
- another number: a slider over its bounds (``softbounds`` where given), or a number box for a whole
  number with a range too wide to slide through (a seed);
- text: a text box.
"""
from __future__ import annotations

from typing import Any

import panel as pn
import param

from app.widgets.log_slider import LogSlider
from ebm_engine.runtime.controls import is_log

WIDEST_INT_SLIDER = 1000   # whole numbers with a wider range get a number box


def control(owner: param.Parameterized, name: str, buttons: bool = False,
            widget: type[pn.widgets.Widget] | None = None, **overrides: Any) -> pn.viewable.Viewable:
    """A widget bound to ``owner.<name>``: of the parameter's kind, or ``widget``; ``overrides`` pass to
    the widget (``label``, ``start``, ...)."""
    parameter = owner.param[name]
    common = {"label": parameter.label, "description": parameter.doc}
    common.update(overrides)
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
