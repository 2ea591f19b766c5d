"""The status bar: device in use, job state, steps per second, iteration, how chains step, engine messages."""
from __future__ import annotations

import html

import panel as pn

STATE_COLORS = {"playing": "#2e9d47", "paused": "#8a8f98", "error": "#d33a2c", "starting": "#c98a00",
                "queued": "#3a7bd5"}


def state_style(state: str) -> tuple[str, str]:
    """The kind of ``state`` ('queued, 2 ahead' is a queued state; the others are one word) and its colour."""
    kind = state.split(",")[0].split(" ")[0]
    return kind, STATE_COLORS.get(kind, STATE_COLORS["paused"])


def state_chip(state: str) -> str:
    """The job's state as a small coloured chip with its full text ("queued, 3 ahead")."""
    kind, color = state_style(state)
    return (f'<span class="ebm-chip" data-state="{html.escape(kind)}" style="display:inline-block; '
            f'padding:1px 10px; border-radius:10px; border:1px solid {color}; color:{color}; font-weight:600; '
            f'white-space:nowrap">● {html.escape(state)}</span>')


class StatusBar:
    """A one-line HTML bar the pages update from their snapshots."""

    def __init__(self):
        self.pane = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["ebm-status-bar"], name="status-bar")
        self.update("", "starting", "…", 0.0, 0)

    def update(self, page: str, state: str, device: str, rate: float, step: int, knobs: dict | None = None,
               started_from: str | None = None, sampler_path: str | None = None) -> None:
        kind, color = state_style(state)
        # the knob values the shown snapshot was computed with (read by browser tests and benchmarks)
        applied = ";".join(f"{k}={v}" for k, v in sorted((knobs or {}).items()))
        self.pane.object = (
            f'<div class="ebm-status" id="ebm-status" data-state="{html.escape(kind)}" '
            f'data-knobs="{html.escape(applied)}">'
            f'<span>{html.escape(page)}</span>'
            f'<span class="ebm-state" style="color:{color}">● {html.escape(state)}</span>'
            f'<span>device: <b>{html.escape(device)}</b></span>'
            f'<span><b id="ebm-rate">{rate:.1f}</b> steps/s</span>'
            f'<span>iteration <b id="ebm-step">{step}</b></span>'
            + (f'<span id="ebm-sampler-path">{html.escape(sampler_path)}</span>' if sampler_path else '')
            + (f'<span id="ebm-started-from">continued from {html.escape(started_from)} '
               '(Start from scratch: above the plots)</span>' if started_from else '')
            + '</div>')
