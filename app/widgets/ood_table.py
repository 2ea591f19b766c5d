"""Tables of the OOD lab: AUROC / AUPR / FPR95 per OOD set (energy beside softmax), and the rates
at the threshold. Every number cell has a stable id for the browser tests."""
from __future__ import annotations

import html
import math

from app.widgets.readouts import HtmlTable

METRICS = (("auroc", "AUROC ↑"), ("aupr", "AUPR ↑"), ("fpr95", "FPR95 ↓"))
KINDS = (("energy", "energy"), ("softmax", "softmax"))


def fmt(value) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.3f}"


class OODMetricsTable(HtmlTable):
    """Rows per OOD set, column groups per metric, energy and softmax side by side; the better
    value of each pair is shaded green."""

    def __init__(self):
        super().__init__("ood-metrics", {}, [], {})

    def _render(self, metrics: dict, sets: list[str], labels: dict[str, str]) -> str:
        values: dict[str, str] = {}
        head = "".join(f'<th colspan="2">{html.escape(label)}</th>' for _, label in METRICS)
        sub = "".join("<th>energy</th><th>softmax</th>" for _ in METRICS)
        rows = []
        for name in sets:
            cells = []
            for metric, _ in METRICS:
                pair = {kind: metrics.get(name, {}).get(kind, {}).get(metric) for kind, _ in KINDS}
                finite = {k: v for k, v in pair.items() if v is not None and math.isfinite(v)}
                best = None
                if len(finite) == 2 and finite["energy"] != finite["softmax"]:
                    pick = max if metric != "fpr95" else min
                    best = pick(finite, key=finite.get)
                for kind, _ in KINDS:
                    key = f"ood-{name}-{kind}-{metric}"
                    text = fmt(pair[kind])
                    values[key] = text
                    style = ' class="ebm-better" style="background:#d7efdc"' if kind == best else ""
                    cells.append(f'<td id="{key}"{style}>{text}</td>')
            rows.append(f"<tr><th>{html.escape(labels.get(name, name))}</th>{''.join(cells)}</tr>")
        self.values = values
        body = "".join(rows) or '<tr><td colspan="7">no OOD set selected</td></tr>'
        return (f'<table class="ebm-readouts ebm-ood-table"><tr><th rowspan="2">OOD set</th>{head}</tr>'
                f"<tr>{sub}</tr>{body}</table>")


class RatesTable(HtmlTable):
    """The threshold, the share of test digits it accepts and the share of each OOD set it detects."""

    def __init__(self):
        super().__init__("ood-rates", None, {}, [], {})

    def _render(self, threshold, rates: dict, sets: list[str], labels: dict[str, str]) -> str:
        def pct(v):
            return "–" if v is None or not math.isfinite(v) else f"{100 * v:.1f}%"

        values = {"rate-threshold": fmt(threshold), "rate-id": pct(rates.get("id"))}
        rows = [f'<tr><th>threshold</th><td id="rate-threshold">{values["rate-threshold"]}</td></tr>',
                f'<tr><th>test digits accepted</th><td id="rate-id">{values["rate-id"]}</td></tr>']
        for name in sets:
            key = f"rate-{name}"
            values[key] = pct(rates.get(name))
            rows.append(f'<tr><th>{html.escape(labels.get(name, name))} detected</th>'
                        f'<td id="{key}">{values[key]}</td></tr>')
        self.values = values
        return f'<table class="ebm-readouts ebm-rates">{"".join(rows)}</table>'
