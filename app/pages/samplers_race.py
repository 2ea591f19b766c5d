"""Race mode of the Samplers page: two or three samplers side by side, same start, same gradient budget."""
from __future__ import annotations

import html
from functools import cached_property

import panel as pn

from app.plots.chain_plot import ChainPlot
from app.widgets.readouts import fmt
from app.plots.fit import flow, plot, stack
from app.plots.framed import SAMPLING_HINT, plot_box
from app.pages.base import LabPage
from ebm_engine.runtime.jobs.samplers_race import RaceControls

LABELS = {"langevin": "Langevin (ULA)", "mala": "MALA", "hmc": "HMC"}


class RaceSection(LabPage, RaceControls):
    """The Race tab of the Samplers page (a section with a job of its own, not a page): the race's
    controls, one small chain plot per sampler and a comparison table."""

    JOB_KIND = "race"

    def __init__(self, session, on_status=None, **params):
        first = ChainPlot(title=LABELS["langevin"], height=330, width=330, hint=SAMPLING_HINT)
        self.plots = {name: first if name == "langevin" else
                      ChainPlot(title=LABELS[name], height=330, width=330, surface_of=first, hint=SAMPLING_HINT)
                      for name in LABELS}
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", name="race-table")
        self.plot_row = flow(*[plot(p.figure) for p in self.plots.values()])
        super().__init__(session, on_status, **params)
        for chains in self.plots.values():
            chains.show_frame(plot_box(self.target))

    @cached_property
    def controls(self) -> pn.FlexBox:
        c = self.control
        fixed = {"width": 200, "sizing_mode": "fixed"}
        return flow(
            stack(c("target", width=200), c("racers", width=200), self.transport(), min_width=300, max_width=480),
            pn.Column(c("step_langevin", **fixed), c("step_mala", **fixed), c("step_hmc", **fixed)),
            pn.Column(self.mark_secondary(c("n_leapfrog", width=200)), c("budget", width=200),
                      c("temperature", width=200)))

    @cached_property
    def view(self) -> pn.Column:
        return pn.Column(self.controls, self.alert, self.plot_row, self.table, sizing_mode="stretch_width")

    def render(self, snapshot: dict) -> None:
        names = [r["name"] for r in snapshot["racers"]]
        if [p.object for p in self.plot_row] != [self.plots[n].figure for n in names]:
            self.plot_row.objects = [pn.pane.Bokeh(self.plots[n].figure) for n in names]   # figures keep their fit
        t, versions = snapshot["knobs"]["temperature"], snapshot.get("versions", {})
        for name, chains in self.plots.items():   # Langevin's sends the grid; the three draw its surface
            chains.show_grid(snapshot["density"], snapshot["bounds"], 0.0, snapshot["density_max"],
                             f"{LABELS[name]} at T = {t:g}", versions.get("density"))
        for racer in snapshot["racers"]:
            self.plots[racer["name"]].show_trails(racer["trails"], racer["positions"], racer["last_accepted"],
                                                  versions.get(f"chains_{racer['name']}"))
        self.table.object = self._table(snapshot["racers"])

    @staticmethod
    def _table(racers: list[dict]) -> str:
        head = "".join(f"<th>{html.escape(LABELS[r['name']])}</th>" for r in racers)
        rows = [("gradient evaluations", "grad_evals", 3), ("acceptance", "accept_rate_mean", 3),
                ("ESS bulk (worst dim)", "ess_bulk_min", 4), ("ESS per gradient", "ess_per_grad", 4),
                ("R-hat (worst dim)", "rhat_max", 3), ("divergences", "divergences", 3)]
        body = ""
        for label, key, digits in rows:
            values = [(r["name"], fmt(r.get(key, r["diagnostics"].get(key)), digits)) for r in racers]
            cells = "".join(f'<td id="race-{name}-{key}">{html.escape(value)}</td>' for name, value in values)
            body += f"<tr><th>{html.escape(label)}</th>{cells}</tr>"
        return f'<table class="ebm-readouts ebm-race"><tr><th></th>{head}</tr>{body}</table>'
