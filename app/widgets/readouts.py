"""HTML tables of named readouts (log Z, NLL, ...), each value with a stable element id, and the samplers'
diagnostics table (acceptance, ESS, R-hat, ESS/s, divergences) with pass/fail badges."""
from __future__ import annotations

import html
import math

import panel as pn

RHAT_MAX = 1.01
ESS_MIN = 400.0


def format_value(value, stderr=None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return str(value)
    text = f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.3f}"   # e.g. an invariance error
    if stderr is not None and math.isfinite(stderr):
        text += f" ± {stderr:.3f}"
    return text


class HtmlTable:
    """An HTML pane drawn by the subclass's ``_render(*args)``; ``update(*args)`` sends it only when it changed.
    ``values`` holds the text of the last drawn cells, by key."""

    def __init__(self, name: str, *empty):
        self.values: dict[str, str] = {}
        self.pane = pn.pane.HTML(self._render(*empty), name=name, sizing_mode="stretch_width")

    def update(self, *args) -> None:
        text = self._render(*args)
        if text != self.pane.object:
            self.pane.object = text


class Readouts(HtmlTable):
    """Rows of label and value; ``update(snapshot)`` reads each key (and ``key_se`` as its ± error)."""

    def __init__(self, rows: list[tuple[str, str]]):
        self.rows = rows
        super().__init__("readouts", {})

    def _render(self, snapshot: dict) -> str:
        self.values = {key: format_value(snapshot.get(key), snapshot.get(f"{key}_se")) for key, _ in self.rows}
        cells = "".join(f'<tr><th>{html.escape(label)}</th>'
                        f'<td id="readout-{key}">{html.escape(self.values[key])}</td></tr>' for key, label in self.rows)
        return f'<table class="ebm-readouts">{cells}</table>'


def badge(ok: bool | None, failing_word: str = "low") -> str:
    """A green 'ok' or red warning pill; nothing when there is no verdict yet."""
    if ok is None:
        return ""
    color, word = ("#2e9d47", "ok") if ok else ("#d33a2c", failing_word)
    return f'<span class="ebm-badge" data-ok="{str(ok).lower()}" style="background:{color}">{word}</span>'


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"


class DiagnosticsTable(HtmlTable):
    """Rows of diagnostics; ESS and R-hat rows carry a badge that turns red past the thresholds."""

    def __init__(self):
        super().__init__("diagnostics", {})

    def _render(self, d: dict | None) -> str:
        d = d or {}
        rhat, ess_b, ess_t = d.get("rhat_max"), d.get("ess_bulk_min"), d.get("ess_tail_min")
        self.verdicts = {
            "rhat": None if rhat is None else bool(rhat < RHAT_MAX),
            "ess_bulk": None if ess_b is None else bool(ess_b >= ESS_MIN),
            "ess_tail": None if ess_t is None else bool(ess_t >= ESS_MIN),
        }
        rows = [
            ("acceptance (mean)", fmt(d.get("accept_rate_mean")), None, "accept"),
            ("acceptance (worst chain)", fmt(d.get("accept_rate_min")), None, "accept_min"),
            ("ESS bulk (worst dim)", fmt(ess_b, 1), self.verdicts["ess_bulk"], "ess_bulk"),
            ("ESS tail (worst dim)", fmt(ess_t, 1), self.verdicts["ess_tail"], "ess_tail"),
            ("R-hat (worst dim)", fmt(rhat), self.verdicts["rhat"], "rhat"),
            ("ESS per second", fmt(d.get("ess_per_s"), 1), None, "ess_per_s"),
            ("ESS per gradient", fmt(d.get("ess_per_grad"), 4), None, "ess_per_grad"),
            ("divergences", fmt(d.get("divergences")), None, "divergences"),
            ("draws in window", fmt(d.get("n_draws")), None, "n_draws"),
        ]
        cells = "".join(f'<tr><th>{html.escape(label)}</th><td id="diag-{key}">{html.escape(value)}</td>'
                        f'<td>{badge(ok, "high" if key == "rhat" else "low")}</td></tr>'
                        for label, value, ok, key in rows)
        return f'<table class="ebm-readouts ebm-diagnostics">{cells}</table>'
