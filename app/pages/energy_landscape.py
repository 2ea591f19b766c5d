"""Energy Landscape: watch an MLP energy learn a 2D data set by contrastive divergence, live."""
from __future__ import annotations

from functools import cached_property

import panel as pn
import param

from app.components.fit import flow, plot, stack
from app.components.live_curves import LiveCurves
from app.components.plot_box import plot_box
from app.components.readouts import Readouts
from app.components.surface_plot import SurfacePlot
from app.pages.base import LabPage
from ebm_engine.data.toy2d import NAMES as DATASETS

LEARNING_RATES = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2]
STEP_SIZES = [1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]


class EnergyLandscapePage(LabPage):
    """Controls for the landscape job and its live surface, chains, curves and readouts."""

    TITLE = "Energy Landscape"
    JOB_KIND = "landscape"
    KNOBS = ("lr", "step_size", "noise", "langevin_steps", "reinit_fraction", "l2_weight", "temperature")
    SETTINGS = ("dataset", "hidden", "depth", "activation", "seed")
    EXPORTS = {"negatives": "negatives", "data": "data"}
    GIF_KEYS = ("negatives", "density")

    dataset = param.Selector(default="8gaussians", objects=list(DATASETS), doc="2D training data")
    lr = param.Selector(default=3e-3, objects=LEARNING_RATES, doc="Adam learning rate")
    step_size = param.Selector(default=0.02, objects=STEP_SIZES, doc="Langevin step size ε")
    noise = param.Number(default=1.0, bounds=(0.0, 2.0), step=0.05, doc="Langevin noise, × √(2ε)")
    langevin_steps = param.Integer(default=10, bounds=(1, 200), doc="Langevin steps per iteration")
    reinit_fraction = param.Number(default=0.05, bounds=(0.0, 1.0), step=0.01,
                                   doc="share of chains restarted from noise")
    l2_weight = param.Number(default=0.1, bounds=(0.0, 1.0), step=0.01, doc="L2 penalty on energies")
    temperature = param.Number(default=1.0, bounds=(0.1, 5.0), step=0.05, doc="T in exp(-E/T)/Z")
    show = param.Selector(default="Density", objects=["Density", "Energy"], doc="what the surface shows")
    hidden = param.Selector(default=128, objects=[32, 64, 128, 256], doc="hidden units per layer")
    depth = param.Integer(default=2, bounds=(1, 4), doc="hidden layers")
    activation = param.Selector(default="silu", objects=["silu", "relu", "elu", "tanh", "softplus"])
    seed = param.Integer(default=0, bounds=(0, 1_000_000), doc="random seed of data, model and chains")

    def __init__(self, session, on_status=None, **params):
        self.surface = SurfacePlot(title="Density exp(-E/T)/Z")
        self.curves = LiveCurves({"loss": "loss", "e_data": "E(data)", "e_neg": "E(negatives)"},
                                 title="Training curves")
        self.readouts = Readouts([("log_z_grid", "log Z (grid)"), ("log_z_mc", "log Z (importance)"),
                                  ("nll_heldout", "held-out NLL"), ("nll_true", "true NLL")])
        self._points_key = None
        super().__init__(session, on_status, **params)
        self.surface.show_frame(plot_box(self.dataset))
        self.param.watch(lambda _e: self._redraw_surface(), ["show"])

    @cached_property
    def controls(self) -> pn.Column:
        w = pn.widgets
        return pn.Column(
            pn.pane.Markdown("### Energy Landscape", margin=(0, 5)),
            w.Select.from_param(self.param.dataset, label="Data set"),
            self.transport(),
            w.RadioButtonGroup.from_param(self.param.show, label="Show", color="primary",
                                          variant="outline"),
            w.FloatSlider.from_param(self.param.temperature, label="Temperature T"),
            w.DiscreteSlider.from_param(self.param.lr, label="Learning rate"),
            w.DiscreteSlider.from_param(self.param.step_size, label="Langevin step size ε"),
            w.FloatSlider.from_param(self.param.noise, label="Langevin noise (× √2ε)"),
            w.IntSlider.from_param(self.param.langevin_steps, label="Langevin steps per iteration"),
            w.FloatSlider.from_param(self.param.reinit_fraction, label="Buffer re-init fraction"),
            self.secondary(
                w.FloatSlider.from_param(self.param.l2_weight, label="Energy L2 weight"),
                w.Select.from_param(self.param.hidden, label="Hidden units"),
                w.IntSlider.from_param(self.param.depth, label="Hidden layers"),
                w.Select.from_param(self.param.activation, label="Activation"),
                w.IntInput.from_param(self.param.seed, label="Seed"),
                title="Model and regularisation"),
            sizing_mode="stretch_width")

    @cached_property
    def view(self) -> pn.Column:
        return pn.Column(
            self.alert,
            flow(plot(self.surface.figure),
                 stack(plot(self.curves.figure), self.readouts.pane, min_width=320, max_width=640)),
            sizing_mode="stretch_width")

    def render(self, snapshot: dict) -> None:
        key = (snapshot["config"]["dataset"], snapshot["config"]["seed"])
        if key != self._points_key:
            self.surface.show_points(snapshot["data"])
            self._points_key = key
        self._redraw_surface()
        self.surface.show_chains(snapshot["negatives"])
        self.curves.update(snapshot["history"])
        self.readouts.update(snapshot)

    def _redraw_surface(self) -> None:
        snap = self.last_snapshot
        if not snap or "energy" not in snap:
            return
        if self.show == "Energy":
            low, high = snap["energy_range"]
            self.surface.show_grid(snap["energy"], snap["bounds"], low, high, "Energy E(x)")
        else:
            t = snap["knobs"]["temperature"]
            self.surface.show_grid(snap["density"], snap["bounds"], 0.0, snap["density_max"],
                                   f"Density exp(-E/T)/Z at T = {t:g}")
