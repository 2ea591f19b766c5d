"""Energy Landscape: watch an MLP energy learn a 2D data set by contrastive divergence, live."""
from __future__ import annotations

from functools import cached_property

import panel as pn
import param

from app.plots.fit import flow, plot, stack
from app.plots.live_curves import LiveCurves
from app.widgets.readouts import Readouts
from app.plots.surface_plot import SurfacePlot
from app.plots.framed import plot_box
from app.pages.base import LabPage
from ebm_engine.runtime.jobs.energy_landscape import LandscapeControls

class EnergyLandscapePage(LabPage, LandscapeControls):
    """Controls for the landscape job and its live surface, chains, curves and readouts."""

    TITLE = "Energy Landscape"
    JOB_KIND = "landscape"
    EXPORTS = {"negatives": "negatives", "data": "data"}
    GIF_KEYS = ("negatives", "density")

    show = param.Selector(default="Density", objects=["Density", "Energy"], doc="what the surface shows")

    def __init__(self, session, on_status=None, **params):
        self.surface = SurfacePlot(title="Density exp(-E/T)/Z")
        self.curves = LiveCurves({"loss": "loss", "e_data": "E(data)", "e_neg": "E(negatives)"},
                                 title="Training curves")
        self.readouts = Readouts([("log_z_grid", "log Z (grid)"), ("log_z_mc", "log Z (importance)"),
                                  ("nll_heldout", "held-out NLL"), ("nll_true", "true NLL")])
        super().__init__(session, on_status, **params)
        self.surface.show_frame(plot_box(self.dataset))
        self.param.watch(lambda _e: self._redraw_surface(), ["show"])

    @cached_property
    def controls(self) -> pn.Column:
        c = self.control
        return self.controls_column(
            c("dataset"),
            self.transport(),
            pn.widgets.RadioButtonGroup.from_param(self.param.show, label="Show", color="primary",
                                                   variant="outline"),
            c("temperature"), c("lr"), c("step_size"), c("noise"), c("langevin_steps"), c("reinit_fraction"),
            self.secondary(c("l2_weight"), c("hidden"), c("depth"), c("activation"), c("seed"),
                           title="Model and regularisation"))

    @cached_property
    def view(self) -> pn.Column:
        return self.view_column(
            flow(plot(self.surface.figure),
                 stack(plot(self.curves.figure), self.readouts.pane, min_width=320, max_width=640)))

    def render(self, snapshot: dict) -> None:
        versions = snapshot.get("versions", {})
        self.surface.show_points(snapshot["data"], versions.get("data"))
        self._redraw_surface()
        self.surface.show_chains(snapshot["negatives"], versions.get("negatives"))
        self.curves.update(snapshot["history"])
        self.readouts.update(snapshot)

    def _redraw_surface(self) -> None:
        snap = self.last_snapshot
        if not snap or "energy" not in snap:
            return
        versions = snap.get("versions", {})
        if self.show == "Energy":
            low, high = snap["energy_range"]
            self.surface.show_grid(snap["energy"], snap["bounds"], low, high, "Energy E(x)", versions.get("energy"))
        else:
            t = snap["knobs"]["temperature"]
            self.surface.show_grid(snap["density"], snap["bounds"], 0.0, snap["density_max"],
                                   f"Density exp(-E/T)/Z at T = {t:g}", versions.get("density"))
