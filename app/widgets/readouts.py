"""A small table of named numeric readouts (log Z, NLL, ...), each with a stable element id."""
from __future__ import annotations

import html
import math

import panel as pn


def format_value(value, stderr=None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return str(value)
    text = f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.3f}"   # e.g. an invariance error
    if stderr is not None and math.isfinite(stderr):
        text += f" ± {stderr:.3f}"
    return text


class Readouts:
    """Rows of label and value; ``update(snapshot)`` reads each key (and ``key_se`` as its ± error)."""

    def __init__(self, rows: list[tuple[str, str]]):
        self.rows = rows
        self.pane = pn.pane.HTML(self._render({}), name="readouts", sizing_mode="stretch_width")
        self.values: dict[str, str] = {}

    def _render(self, snapshot: dict) -> str:
        cells = []
        for key, label in self.rows:
            value = format_value(snapshot.get(key), snapshot.get(f"{key}_se"))
            self.values = {**getattr(self, "values", {}), key: value}
            cells.append(f'<tr><th>{html.escape(label)}</th><td id="readout-{key}">{html.escape(value)}</td></tr>')
        return f'<table class="ebm-readouts">{"".join(cells)}</table>'

    def update(self, snapshot: dict) -> None:
        text = self._render(snapshot)
        if text != self.pane.object:
            self.pane.object = text
