"""Constraints: a base energy plus constraint penalties; weights, hard walls and drawn boxes, live."""
from __future__ import annotations

from functools import cached_property

import panel as pn
import param
from bokeh.models import BoxEditTool, ColumnDataSource

from app.plots.chain_plot import ChainPlot
from app.plots.fit import flow, plot, stack
from app.plots.framed import SAMPLING_HINT, plot_box
from app.widgets.readouts import Readouts
from app.plots.sent_versions import SentVersions
from app.pages.base import LabPage
from ebm_engine.runtime.jobs.constraints import DEFAULT_CONSTRAINTS, MAX_WEIGHT, ConstraintsControls

PRESET_LABELS = ("Half-plane x + y ≤ 1.5", "Ball ‖x‖ ≤ 2", "Non-negative x, y ≥ 0", "Simplex x + y = 1, x, y ≥ 0")
OUTLINE_COLORS = ("#ffb000", "#00e5ff", "#ff4fd8", "#b6ff00")


class ConstraintsPage(LabPage, ConstraintsControls):
    """Chains under ``base + Σ w_i · penalty_i``; drag boxes on the plot to add box constraints."""

    TITLE = "Constraints"
    JOB_KIND = "constraints"
    EXPORTS = {"positions": "positions"}
    GIF_KEYS = ("positions", "density")

    box_mode = param.Selector(default="outside", objects=["outside", "inside"], doc="chains stay out of / in boxes")
    box_weight = param.Number(default=5.0, bounds=(0.0, 50.0), doc="weight of the drawn boxes")

    def __init__(self, session, on_status=None, **params):
        self.plot = ChainPlot(title="Constrained density", on_tap=None, hint=SAMPLING_HINT)
        self.weights = [pn.widgets.FloatSlider(label=label, start=0.0, end=20.0, step=0.1, value=float(c["weight"]),
                                               sizing_mode="stretch_width")
                        for label, c in zip(PRESET_LABELS, DEFAULT_CONSTRAINTS)]
        for index, slider in enumerate(self.weights):
            slider.param.watch(lambda e, i=index: self.session.act(self.job_id, "set_weight", index=i,
                                                                   weight=float(e.new)), "value")
        self.outlines = ColumnDataSource({"xs": [], "ys": [], "color": []})
        self.plot.figure.multi_line("xs", "ys", source=self.outlines, line_color="color", line_width=3,
                                    line_dash="dashed")
        self.boxes = ColumnDataSource({"x": [], "y": [], "width": [], "height": []})
        box_glyph = self.plot.figure.rect("x", "y", "width", "height", source=self.boxes, fill_alpha=0.15,
                                          fill_color="#ffffff", line_color="#ffffff", line_width=2)
        self.plot.figure.add_tools(BoxEditTool(renderers=[box_glyph], description="Draw constraint boxes"))
        self.boxes.on_change("data", lambda _attr, _old, _new: self.send_constraints())
        self.readouts = Readouts([("violation_rate", "share of chains violating"), ("n_boxes", "drawn boxes")])
        self.sent = SentVersions()
        super().__init__(session, on_status, **params)
        self.plot.show_frame(plot_box(self.target))
        self.param.watch(lambda _e: self.send_constraints(), ["box_mode", "box_weight"])

    def constraint_list(self) -> list[dict]:
        """The presets with their slider weights, then one box constraint per drawn box."""
        items = [{**c, "weight": float(s.value)} for c, s in zip(DEFAULT_CONSTRAINTS, self.weights)]
        d = self.boxes.data
        for x, y, w, h in zip(d["x"], d["y"], d["width"], d["height"]):
            w, h = abs(float(w)), abs(float(h))
            items.append({"kind": "box", "low": [x - w / 2, y - h / 2], "high": [x + w / 2, y + h / 2],
                          "mode": self.box_mode, "weight": min(float(self.box_weight), MAX_WEIGHT)})
        return items

    def send_constraints(self) -> None:
        self.session.act(self.job_id, "set_constraints", constraints=self.constraint_list())

    @cached_property
    def controls(self) -> pn.Column:
        w, c = pn.widgets, self.control
        return self.controls_column(
            c("target"),
            c("sampler", buttons=True),
            self.transport(),
            c("hard"),
            pn.pane.Markdown("**Constraint weights**", margin=(5, 5, 0, 5)),
            *self.weights,
            pn.pane.Markdown("**Drawn boxes** — pick the box tool above the plot, then shift-drag to draw",
                             margin=(5, 5, 0, 5)),
            w.RadioButtonGroup.from_param(self.param.box_mode, color="primary", variant="outline",
                                          options={"keep out": "outside", "keep in": "inside"}),
            w.FloatSlider.from_param(self.param.box_weight, label="Box weight"),
            self.secondary(c("step_size"), c("temperature"), c("n_chains"), title="Sampler settings"))

    @cached_property
    def view(self) -> pn.Column:
        return self.view_column(flow(plot(self.plot.figure), stack(self.readouts.pane, min_width=280, max_width=420)))

    def render(self, snapshot: dict) -> None:
        t, versions = snapshot["knobs"]["temperature"], snapshot.get("versions", {})
        mode = "hard" if snapshot["hard"] else "soft"
        self.plot.show_grid(snapshot["density"], snapshot["bounds"], 0.0, snapshot["density_max"],
                            f"{snapshot['config']['target']} with {mode} constraints, T = {t:g}",
                            versions.get("density"))
        self.plot.show_trails(snapshot["trails"], snapshot["positions"], snapshot["last_accepted"],
                              versions.get("chains"))
        if self.sent.due("outlines", versions.get("constraints")):   # they move with a constraint, not the chains
            active = [c for c in snapshot["constraints"] if c["weight"] > 0 and c["kind"] != "box"]
            self.outlines.data = {"xs": [c["outline"]["x"] for c in active], "ys": [c["outline"]["y"] for c in active],
                                  "color": [OUTLINE_COLORS[i % 4] for i, _ in enumerate(active)]}
        self.readouts.update(snapshot)
