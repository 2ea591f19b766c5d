"""Samplers: tune Langevin, MALA and HMC by eye on 2D targets, with live diagnostics."""
from __future__ import annotations

from functools import cached_property

import panel as pn
import param

from app.plots.chain_plot import ChainPlot
from app.widgets.readouts import DiagnosticsTable
from app.plots.fit import flow, plot, stack
from app.plots.marginals import MarginalPlot, TracePlot
from app.plots.framed import SAMPLING_HINT, plot_box
from app.pages.base import LabPage
from app.pages.samplers_race import RaceSection
from ebm_engine.runtime.jobs.samplers import SamplerControls

class SamplersPage(LabPage, SamplerControls):
    """Chains on an analytic target (or the trained energy), every knob live."""

    TITLE = "Samplers"
    JOB_KIND = "sampler"
    EXPORTS = {"positions": "positions", "last_accepted": "last_accepted"}
    GIF_KEYS = ("positions", "density")

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
        self.race = RaceSection(session)
        self.param.watch(lambda _e: self._draw_surface(), ["show"])

    def url_sections(self) -> dict[str, LabPage]:
        return {"race.": self.race}

    def spawn(self, x: float, y: float) -> None:
        """Start a bunch of chains at a clicked point."""
        self.session.act(self.job_id, "spawn", x=x, y=y)

    @cached_property
    def controls(self) -> pn.Column:
        c = self.control
        return self.controls_column(
            c("target"), c("sampler", buttons=True),
            self.transport(),
            c("step_size"), self.autotune_button, c("n_leapfrog"), c("temperature"), c("n_chains"),
            self.secondary(c("noise"), c("speed"), c("seed")),
            pn.widgets.RadioButtonGroup.from_param(self.param.show, label="Show", color="primary", variant="outline"),
            pn.pane.Markdown("Click the surface to start chains there.", styles={"opacity": "0.7"}))

    @cached_property
    def view(self) -> pn.Tabs:
        explore = self.view_column(
            flow(plot(self.plot.figure),
                 flow(plot(self.marginal_x.figure), plot(self.marginal_y.figure), plot(self.trace.figure),
                      stack(self.table.pane, min_width=300, max_width=400), min_width=340, max_width=720)))
        return pn.Tabs(("Explore", explore), ("Race", self.race.view), dynamic=False, sizing_mode="stretch_width")

    def render(self, snapshot: dict) -> None:
        if snapshot["knobs"].get("step_size") is not None:   # auto-tune moves the step-size slider
            self.step_size = snapshot["knobs"]["step_size"]
        self._draw_surface()
        versions = snapshot.get("versions", {})
        self.plot.show_trails(snapshot["trails"], snapshot["positions"], snapshot["last_accepted"],
                              versions.get("chains"))
        for marginal in (self.marginal_x, self.marginal_y):
            marginal.update(snapshot, versions.get("chains"), versions.get("density"))
        self.trace.update(snapshot["energy_trace"], snapshot["trace_end"])
        self.table.update(snapshot["diagnostics"])

    def _draw_surface(self) -> None:
        snap = self.last_snapshot
        if not snap or "density" not in snap:
            return
        versions = snap.get("versions", {})
        if self.show == "Energy":
            self.plot.show_grid(snap["energy"], snap["bounds"], float(snap["energy_min"]), float(snap["energy_max"]),
                                "Energy E(x)", versions.get("energy"))
        else:
            t = snap["knobs"]["temperature"]
            self.plot.show_grid(snap["density"], snap["bounds"], 0.0, snap["density_max"],
                                f"{snap['config']['target']}: exp(-E/T)/Z at T = {t:g}", versions.get("density"))
