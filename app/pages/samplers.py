"""Samplers: tune Langevin, MALA and HMC by eye on 2D targets, with live diagnostics."""
from __future__ import annotations

from functools import cached_property

import panel as pn
import param

from app.components.chain_plot import ChainPlot
from app.components.diagnostics_table import DiagnosticsTable
from app.components.fit import flow, plot, stack
from app.components.log_slider import LogSlider
from app.components.marginals import MarginalPlot, TracePlot
from app.components.plot_box import plot_box
from app.components.surface_plot import SAMPLING_HINT
from app.pages.base import LabPage
from app.pages.race import RaceSection
from ebm_engine.energies.targets import TARGETS
from ebm_engine.runtime.jobs.sampler import TRAINED

SAMPLERS = {"Langevin": "langevin", "MALA": "mala", "HMC": "hmc"}


class SamplersPage(LabPage):
    """Chains on an analytic target (or the trained energy), every knob live."""

    TITLE = "Samplers"
    JOB_KIND = "sampler"
    KNOBS = ("sampler", "step_size", "n_leapfrog", "temperature", "noise", "n_chains", "speed")
    SETTINGS = ("target", "seed")
    EXPORTS = {"positions": "positions", "last_accepted": "last_accepted"}
    GIF_KEYS = ("positions", "density")

    target = param.Selector(default="banana", objects=sorted(TARGETS) + [TRAINED], doc="the energy to sample")
    sampler = param.Selector(default="mala", objects=list(SAMPLERS.values()))
    step_size = param.Number(default=0.1, bounds=(1e-4, 1e3), doc="ε: Langevin/MALA step, HMC leapfrog step")
    n_leapfrog = param.Integer(default=10, bounds=(1, 100), doc="HMC leapfrog steps per iteration")
    temperature = param.Number(default=1.0, bounds=(0.05, 20.0), step=0.05, doc="T in exp(-E/T)")
    noise = param.Number(default=1.0, bounds=(0.0, 3.0), step=0.05, doc="Langevin noise, × √(2ε)")
    n_chains = param.Integer(default=32, bounds=(1, 1024), doc="number of chains")
    speed = param.Number(default=30.0, bounds=(1.0, 2000.0), doc="sampler steps per second")
    seed = param.Integer(default=0, bounds=(0, 1_000_000))
    show = param.Selector(default="Density", objects=["Density", "Energy"])

    def __init__(self, session, on_status=None, **params):
        self.plot = ChainPlot(title="Chains", on_tap=self.spawn, height=480, width=500, hint=SAMPLING_HINT)
        self.marginal_x, self.marginal_y = MarginalPlot("x"), MarginalPlot("y")
        self.trace = TracePlot()
        self.table = DiagnosticsTable()
        self.autotune_button = pn.widgets.Button(label="Auto-tune step size", color="primary",
                                                 sizing_mode="stretch_width")
        self.autotune_button.on_click(lambda _e: self.session.act(self.job_id, "autotune"))
        super().__init__(session, on_status, **params)
        self.plot.show_frame(plot_box(self.target))
        self.step_slider = LogSlider(self, "step_size", "Step size ε", 0.001, 2.0)
        self.race = RaceSection(session)
        self.param.watch(lambda _e: self._draw_surface(), ["show"])

    def url_sections(self) -> dict[str, LabPage]:
        return {"race.": self.race}

    def spawn(self, x: float, y: float) -> None:
        """Start a bunch of chains at a clicked point."""
        self.session.act(self.job_id, "spawn", x=x, y=y)

    @cached_property
    def controls(self) -> pn.Column:
        w = pn.widgets
        return pn.Column(
            pn.pane.Markdown("### Samplers", margin=(0, 5)),
            w.Select.from_param(self.param.target, label="Target"),
            w.RadioButtonGroup.from_param(self.param.sampler, label="Sampler", color="primary", variant="outline",
                                          options=SAMPLERS, sizing_mode="stretch_width"),
            self.transport(),
            self.step_slider.widget,
            self.autotune_button,
            w.IntSlider.from_param(self.param.n_leapfrog, label="Leapfrog steps (HMC)"),
            w.FloatSlider.from_param(self.param.temperature, label="Temperature T", start=0.1, end=5.0),
            w.IntSlider.from_param(self.param.n_chains, label="Chains", start=1, end=256),
            self.secondary(
                w.FloatSlider.from_param(self.param.noise, label="Langevin noise (× √2ε)"),
                w.FloatSlider.from_param(self.param.speed, label="Steps per second", start=1, end=500, step=1),
                w.IntInput.from_param(self.param.seed, label="Seed")),
            w.RadioButtonGroup.from_param(self.param.show, label="Show", color="primary", variant="outline"),
            pn.pane.Markdown("Click the surface to start chains there.", styles={"opacity": "0.7"}),
            sizing_mode="stretch_width")

    @cached_property
    def view(self) -> pn.Tabs:
        explore = pn.Column(
            self.alert,
            flow(plot(self.plot.figure),
                 flow(plot(self.marginal_x.figure), plot(self.marginal_y.figure), plot(self.trace.figure),
                      stack(self.table.pane, min_width=300, max_width=400), min_width=340, max_width=720)),
            sizing_mode="stretch_width")
        return pn.Tabs(("Explore", explore), ("Race", self.race.view), dynamic=False, sizing_mode="stretch_width")

    def render(self, snapshot: dict) -> None:
        self._sync_knobs(snapshot["knobs"])
        self._draw_surface()
        self.plot.show_trails(snapshot["trails"], snapshot["positions"], snapshot["last_accepted"])
        self.marginal_x.update(snapshot)
        self.marginal_y.update(snapshot)
        self.trace.update(snapshot["energy_trace"], snapshot["trace_end"])
        self.table.update(snapshot["diagnostics"])

    def _sync_knobs(self, knobs: dict) -> None:
        """Follow knob values the engine changed itself (auto-tune moves the step-size slider)."""
        if knobs.get("step_size") is not None and knobs["step_size"] != self.step_size:
            self.step_size = knobs["step_size"]

    def _draw_surface(self) -> None:
        snap = self.last_snapshot
        if not snap or "density" not in snap:
            return
        if self.show == "Energy":
            energy = snap["energy"]
            self.plot.show_grid(energy, snap["bounds"], float(snap["energy_min"]), float(snap["energy_max"]),
                                "Energy E(x)")
        else:
            t = snap["knobs"]["temperature"]
            self.plot.show_grid(snap["density"], snap["bounds"], 0.0, snap["density_max"],
                                f"{snap['config']['target']}: exp(-E/T)/Z at T = {t:g}")
