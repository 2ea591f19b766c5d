"""``LabPage``: what every page shares — transport buttons, knob and setting wiring, status and alerts.

A page owns one engine job. Its knob parameters are sent to the job as soon as they change
(no restart); its setting parameters need a new model or data, so changing one resets the job.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar

import panel as pn
import param

WARNING_VISIBLE_STEPS = 150


class LabPage(param.Parameterized):
    """Base of the lab's pages; subclasses set ``TITLE``, ``JOB_KIND``, ``KNOBS``, ``SETTINGS``."""

    TITLE: ClassVar[str] = ""
    JOB_KIND: ClassVar[str] = ""
    KNOBS: ClassVar[tuple[str, ...]] = ()
    SETTINGS: ClassVar[tuple[str, ...]] = ()

    state = param.String(default="starting",
                         doc="job state: starting, playing, paused, error or 'queued (n ahead)' for a full device")
    step_count = param.Integer(default=0)
    steps_per_sec = param.Number(default=0.0)
    device = param.String(default="…")

    def __init__(self, session, on_status: Callable[["LabPage"], None] | None = None, **params: Any):
        super().__init__(**params)
        self.session = session
        self.on_status = on_status
        self.job_id = self.JOB_KIND
        self.last_snapshot: dict | None = None
        size = {"sizing_mode": "stretch_width", "min_width": 55}
        self.play_button = pn.widgets.Button(label="Play", color="success", **size)
        self.pause_button = pn.widgets.Button(label="Pause", color="warning", **size)
        self.step_button = pn.widgets.Button(label="Step", color="primary", **size)
        self.reset_button = pn.widgets.Button(label="Reset", color="danger", **size)
        for button, op in ((self.play_button, "play"), (self.pause_button, "pause"),
                           (self.step_button, "step"), (self.reset_button, "reset")):
            button.on_click(lambda _event, op=op: self.command(op))
        self.alert = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width",
                                   name="page-alert")
        if self.KNOBS:
            self.param.watch(self._knobs_changed, list(self.KNOBS))
        if self.SETTINGS:
            self.param.watch(self._settings_changed, list(self.SETTINGS))
        session.attach(self.job_id, self.JOB_KIND, self, config=self.settings(), knobs=self.knob_values())

    # --- what subclasses provide ----------------------------------------------------------
    def render(self, snapshot: dict) -> None:
        """Patch the page's plots and readouts from a snapshot."""
        raise NotImplementedError

    @property
    def controls(self) -> pn.viewable.Viewable:
        raise NotImplementedError

    @property
    def view(self) -> pn.viewable.Viewable:
        raise NotImplementedError

    # --- shared behaviour -----------------------------------------------------------------
    def transport(self) -> pn.Row:
        return pn.Row(self.play_button, self.pause_button, self.step_button, self.reset_button,
                      sizing_mode="stretch_width")

    def knob_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.KNOBS}

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.SETTINGS}

    def command(self, op: str) -> None:
        self.session.command(self.job_id, op, self.settings() if op == "reset" else None)

    def _knobs_changed(self, *events) -> None:
        self.session.set_knobs(self.job_id, **{e.name: e.new for e in events})

    def _settings_changed(self, *events) -> None:
        self.session.command(self.job_id, "reset", self.settings())

    def apply_snapshot(self, snapshot: dict) -> None:
        """Update status and alerts, then let the page render its plots."""
        self.last_snapshot = snapshot
        status = snapshot.get("status", {})
        self.state = status.get("state", self.state)
        if self.state == "queued":
            self.state = f"queued ({status.get('queued_ahead') or 0} ahead)"
        play_label = "Play" if not self.state.startswith("queued") else self.state.capitalize()
        if self.play_button.label != play_label:
            self.play_button.label = play_label
        self.steps_per_sec = float(status.get("steps_per_sec", 0.0))
        self.step_count = int(snapshot.get("step", self.step_count))
        self.device = snapshot.get("device", self.device)
        self.show_alert(status.get("error"), status.get("notice"), snapshot)
        if "kind" in snapshot:
            self.render(snapshot)
        if self.on_status:
            self.on_status(self)

    def show_alert(self, error: str | None, notice: str | None, snapshot: dict) -> None:
        warning = snapshot.get("warning")
        recent = warning and self.step_count - snapshot.get("warning_step", 0) <= WARNING_VISIBLE_STEPS
        if error:
            self.alert.param.update(object=error, alert_type="danger", visible=True)
        elif notice:
            self.alert.param.update(object=f"Not applied: {notice}", alert_type="warning", visible=True)
        elif recent:
            self.alert.param.update(object=warning, alert_type="warning", visible=True)
        elif self.alert.visible:
            self.alert.visible = False

    def engine_event(self, message: str) -> None:
        self.state = "error"
        self.alert.param.update(object=message, alert_type="danger", visible=True)
        if self.on_status:
            self.on_status(self)
