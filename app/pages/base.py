"""``LabPage``: what every page shares — transport buttons, knob and setting wiring, status and alerts.

A page owns one engine job and inherits the job's declared controls (``ebm_engine.runtime.controls``)
as its own parameters: its knobs are sent to the job as soon as they change (no restart); its
settings need a new model or data, so changing one resets the job.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, ClassVar

import panel as pn
import param

from app.widgets.checkpoint_panel import CheckpointPanel
from app.widgets.control_widgets import control
from app.widgets.status_bar import state_chip
from ebm_engine.runtime import controls
from ebm_engine.runtime.registry import job_class

# The page title's size, fixed: a page built after the first render also receives Bootstrap's full sheet,
# whose h3 (1.75rem) would otherwise make its title twice the first page's.
TITLE_CSS = "h3 { font-size: 1.17em; font-weight: 600; }"

WARNING_VISIBLE_STEPS = 150


def sampler_path_text(path: str | None, steps_per_sec: float, chains_per_step: int | None) -> str | None:
    """The status line's word on how chains step: "compiled · 41.2k chain-steps/s", "compiling…", or why eager."""
    if path is None:
        return None
    if path == "compiled":
        return f"compiled · {steps_per_sec * chains_per_step / 1000:.1f}k chain-steps/s" if chains_per_step else path
    return "compiling…" if path == "compiling" else path


class LabPage(param.Parameterized):
    """Base of the lab's pages; subclasses set ``TITLE`` and ``JOB_KIND`` and inherit the job's controls."""

    TITLE: ClassVar[str] = ""
    JOB_KIND: ClassVar[str] = ""
    #: a setting that picks the job kind (the page's model), and the kind each of its values opens: changing
    #: it opens that kind in place of the job (``reopen``); it is not one of the job's settings
    KIND_SETTING: ClassVar[str] = ""
    KINDS: ClassVar[dict[str, str]] = {}
    #: snapshot arrays offered as .npz / CSV downloads: {name in the file: snapshot key}
    EXPORTS: ClassVar[dict[str, str]] = {}
    #: snapshot keys of (chain positions, surface grid) for the animated GIF export, if the page has one
    GIF_KEYS: ClassVar[tuple[str, str] | None] = None

    state = param.String(default="starting",
                         doc="job state: starting, playing, paused, error or 'queued, n ahead' for a full device")
    keep_training = param.Boolean(default=False, doc="keep training while another page is in view")
    step_count = param.Integer(default=0)
    steps_per_sec = param.Number(default=0.0)
    device = param.String(default="…")

    def __init__(self, session, on_status: Callable[["LabPage"], None] | None = None, **params: Any):
        self.secondary_sections: list[pn.viewable.Viewable] = []
        self.widgets: dict[str, pn.viewable.Viewable] = {}   # the controls' widgets by name, once built
        super().__init__(**params)
        self.session = session
        self.on_status = on_status
        self.job_id = self.JOB_KIND
        self.last_snapshot: dict | None = None
        self.started_from: str | None = None   # the pretrained model this run continues, if any
        self.sampler_path: str | None = None   # how the chains step (compiled or eager), on sampling pages
        colors = {"play": "success", "pause": "warning", "step": "primary", "reset": "danger"}
        self.play_button, self.pause_button, self.step_button, self.reset_button = buttons = [
            pn.widgets.Button(label=op.capitalize(), color=color, sizing_mode="stretch_width", min_width=55)
            for op, color in colors.items()]
        for button, op in zip(buttons, colors):
            button.on_click(lambda _event, op=op: self.command(op))
        self.state_chip = pn.pane.HTML(state_chip(self.state), margin=(4, 5), name="state-chip")
        self.param.watch(lambda e: setattr(self.state_chip, "object", state_chip(e.new)), "state")
        self.pin_switch = pn.widgets.Checkbox.from_param(self.param.keep_training, label="Keep training in background",
                                                         margin=(2, 5), sizing_mode="stretch_width")
        self.param.watch(lambda e: self.session.pin(self.job_id, e.new), "keep_training")
        self.checkpoints = CheckpointPanel(
            self.checkpoint_action,
            available=bool(job_class(self.JOB_KIND).CHECKPOINT_MODELS))
        self._checkpoint_loads = 0
        self._syncing_settings = False
        self.alert = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width",
                                   name="page-alert")
        if self.knob_names():
            self.param.watch(self._knobs_changed, list(self.knob_names()))
        if self.setting_names():
            self.param.watch(self._settings_changed, list(self.setting_names()))
        session.attach(self.job_id, self.job_kind(), self, config=self.settings(), knobs=self.knob_values())

    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        """The job's knobs, as the page's parameters."""
        return controls.knob_names(cls)

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """The job's settings a user sees (a change resets the job)."""
        return (*((cls.KIND_SETTING,) if cls.KIND_SETTING else ()), *controls.setting_names(cls, shown_only=True))

    def control(self, name: str, **overrides: Any) -> pn.viewable.Viewable:
        """The widget of a declared control (see ``app.widgets.control_widgets``), kept in ``widgets``."""
        self.widgets[name] = control(self, name, **overrides)
        return self.widgets[name]

    # --- what subclasses provide, besides their ``controls`` and ``view`` ---------------------------
    def render(self, snapshot: dict) -> None:
        """Patch the page's plots and readouts from a snapshot."""
        raise NotImplementedError

    def url_sections(self) -> dict[str, "LabPage"]:
        """Parts of the page with their own settings, by the prefix their link values carry."""
        return {}

    # --- shared behaviour -----------------------------------------------------------------
    def secondary(self, *objects: Any, title: str = "More settings") -> pn.Card:
        """A collapsed card of advanced controls, hidden in presentation mode."""
        return self.mark_secondary(pn.Card(*objects, title=title, collapsed=True, sizing_mode="stretch_width"))

    def mark_secondary(self, section: Any) -> Any:
        """Declare ``section`` (a widget or layout of the controls) secondary: presentation mode hides it."""
        self.secondary_sections.append(section)
        return section

    def present(self, presenting: bool) -> None:
        """Hide (or show again) the secondary controls of this page and of its sections."""
        for owner in (self, *self.url_sections().values()):
            for section in owner.secondary_sections:
                section.visible = not presenting

    def controls_column(self, *objects: Any) -> pn.Column:
        """The page's controls under its title."""
        title = pn.pane.Markdown(f"### {self.TITLE}", margin=(0, 5), css_classes=["page-title"],
                                 stylesheets=[TITLE_CSS])
        return pn.Column(title, *objects, sizing_mode="stretch_width")

    def view_column(self, *objects: Any) -> pn.Column:
        """The page's plots and tables under its alert."""
        return pn.Column(self.alert, *objects, sizing_mode="stretch_width")

    def transport(self) -> pn.Column:
        """Play, Pause, Step and Reset, the job's state and the keep-training-in-background pin."""
        return pn.Column(pn.Row(self.play_button, self.pause_button, self.step_button, self.reset_button,
                                sizing_mode="stretch_width"),
                         self.state_chip, self.pin_switch,
                         sizing_mode="stretch_width", margin=0)

    def job_ids(self) -> list[str]:
        """The engine jobs of this page and of its sections (all in view together)."""
        return [self.job_id, *(section.job_id for section in self.url_sections().values())]

    def knob_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.knob_names()}

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.setting_names() if name != self.KIND_SETTING}

    def command(self, op: str) -> None:
        self.session.command(self.job_id, op, self.settings() if op == "reset" else None)

    def _knobs_changed(self, *events) -> None:
        self.session.set_knobs(self.job_id, **{e.name: e.new for e in events})

    def _settings_changed(self, *events) -> None:
        if self._syncing_settings:   # the job already runs with these settings (a checkpoint was loaded)
            return
        if any(e.name == self.KIND_SETTING for e in events):
            self.reopen()
        else:
            self.session.command(self.job_id, "reset", self.settings())

    def job_kind(self) -> str:
        """The job kind the page's settings pick."""
        return self.KINDS[getattr(self, self.KIND_SETTING)] if self.KIND_SETTING else self.JOB_KIND

    def reopen(self) -> None:
        """Open the job kind the settings pick in place of the page's job: a new job, paused, with the
        page's settings and knobs (if it cannot be built, the page shows why and the old job stays)."""
        self.session.command(self.job_id, "pause")
        self._checkpoint_loads = 0
        self.session.attach(self.job_id, self.job_kind(), self, config=self.settings(), knobs=self.knob_values())

    def checkpoint_action(self, action: str, **arguments: Any) -> None:
        """Send an action of the checkpoint panel. A checkpoint of a model that another of the page's job
        kinds trains first switches the kind setting to that kind, which opens it."""
        info = (self.last_snapshot or {}).get("checkpoint") or {}
        model = info.get("option_models", {}).get(arguments.get("checkpoint"))
        if model is not None and model not in job_class(self.job_kind()).CHECKPOINT_MODELS:
            for value, kind in self.KINDS.items():
                if model in job_class(kind).CHECKPOINT_MODELS:
                    setattr(self, self.KIND_SETTING, value)
                    break
        self.session.act(self.job_id, action, **arguments)

    def apply_snapshot(self, snapshot: dict) -> None:
        """Update status and alerts, then let the page render its plots."""
        self.last_snapshot = snapshot
        status = snapshot.get("status", {})
        state = status.get("state", self.state)
        self.state = f"queued, {status.get('queued_ahead') or 0} ahead" if state == "queued" else state
        self.steps_per_sec = float(status.get("steps_per_sec", 0.0))
        self.step_count = int(snapshot.get("step", self.step_count))
        self.device = snapshot.get("device", self.device)
        self.started_from = snapshot.get("started_from", self.started_from)
        self.sampler_path = sampler_path_text(snapshot.get("sampler_path"), self.steps_per_sec,
                                              snapshot.get("chains_per_step"))
        self.show_alert(status.get("error"), status.get("notice"), snapshot)
        if "checkpoint" in snapshot:
            self.checkpoints.update(snapshot["checkpoint"])
            if snapshot["checkpoint"].get("loads", 0) != self._checkpoint_loads:
                self._checkpoint_loads = snapshot["checkpoint"]["loads"]
                self.sync_settings(snapshot.get("config", {}))
        if "kind" in snapshot:
            self.render(snapshot)
        if self.on_status:
            self.on_status(self)

    def sync_settings(self, config: dict[str, Any]) -> None:
        """Show the settings a loaded checkpoint brought along, without resetting the job again."""
        self._syncing_settings = True
        try:
            for name in self.setting_names():
                value, objects = config.get(name), getattr(self.param[name], "objects", None)
                if value is not None and value != getattr(self, name) and not (objects and value not in objects):
                    with contextlib.suppress(ValueError):   # outside the widget's range: the job still runs it
                        setattr(self, name, value)
        finally:
            self._syncing_settings = False

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

