"""Symmetry & Latents: an equivariant and a plain energy learn from one sector of symmetric data; a latent EBM."""
from __future__ import annotations

from functools import cached_property

import panel as pn
import param

from app.components.colored_points_plot import ColoredPointsPlot
from app.components.fit import flow, plot
from app.components.plot_box import plot_box
from app.components.readouts import Readouts
from app.components.surface_plot import SurfacePlot
from app.pages.base import LabPage

LEARNING_RATES = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2]
STEP_SIZES = [1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1]
SECTORS = {"one eighth": 8, "one quarter": 4, "one half": 2, "everything": 1}
MODES = {"average over the group": "average", "invariant features": "features"}


class SymmetryLatentsPage(LabPage):
    """Equivariant vs plain densities with their readouts; the latent EBM's marginal, latents and joint samples."""

    TITLE = "Symmetry & Latents"
    JOB_KIND = "symmetry_latents"
    KNOBS = ("group_order", "reflections", "lr", "step_size", "latent_step_size")
    SETTINGS = ("dataset", "sectors", "mode", "latent_dim", "seed")
    EXPORTS = {"equivariant_negatives": "equivariant_negatives", "plain_negatives": "plain_negatives",
               "joint_samples": "joint_samples"}

    dataset = param.Selector(default="8gaussians", objects=["8gaussians", "rings", "circles"],
                             doc="a data set symmetric under rotations (and reflections)")
    sectors = param.Selector(default=8, objects=list(SECTORS.values()), doc="train on one of this many wedges")
    mode = param.Selector(default="average", objects=list(MODES.values()), doc="how invariance is built")
    group_order = param.Integer(default=8, bounds=(1, 16), doc="n of the rotation group C_n (D_n with reflections)")
    reflections = param.Boolean(default=False, doc="add the n reflections (dihedral group D_n)")
    lr = param.Selector(default=3e-3, objects=LEARNING_RATES, doc="Adam learning rate (all models)")
    step_size = param.Selector(default=0.02, objects=STEP_SIZES, doc="Langevin step size of the negatives")
    latent_step_size = param.Selector(default=0.1, objects=[0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
                                      doc="Langevin step size of the latent model's joint chains")
    latent_dim = param.Selector(default=1, objects=[1, 2], doc="dimension of the latent z")
    seed = param.Integer(default=0, bounds=(0, 1_000_000), doc="random seed of data, models and chains")

    def __init__(self, session, on_status=None, **params):
        self.equivariant = SurfacePlot(title="Equivariant energy: density", points_legend="training sector",
                                       chains_legend="negatives", width=500, height=470)
        self.equivariant.figure.name = "equivariant-density"
        self.plain = SurfacePlot(title="Plain MLP energy: density", points_legend="training sector",
                                 chains_legend="negatives", width=500, height=470)
        self.plain.figure.name = "plain-density"
        self.symmetry_readouts = Readouts([
            ("group_order", "group order |G|"), ("subset_size", "training points (sector)"),
            ("mass_off_equivariant", "mass outside the sector, equivariant"),
            ("mass_off_plain", "mass outside the sector, plain"), ("mass_off_true", "mass outside the sector, truth"),
            ("nll_equivariant", "NLL on the full set, equivariant"), ("nll_plain", "NLL on the full set, plain"),
            ("nll_true", "true NLL"), ("invariance_equivariant", "invariance error, equivariant (relative)"),
            ("invariance_plain", "invariance error, plain (relative)")])
        self.marginal = ColoredPointsPlot(value_label="encoder mean of z₁", name="latent-marginal",
                                          title="Latent EBM: marginal density, data coloured by latent",
                                          width=500, height=470)
        self.joint = ColoredPointsPlot(value_label="z₁", name="latent-joint",
                                       title="Latent EBM: joint samples (x, z), coloured by z",
                                       width=500, height=470)
        self.latent_readouts = Readouts([("nll_latent", "held-out NLL of the marginal (importance sampled)"),
                                         ("marginal_se", "mean standard error of the marginal energy")])
        super().__init__(session, on_status, **params)
        for surface in (self.equivariant, self.plain, self.marginal, self.joint):
            surface.show_frame(plot_box(self.dataset))

    @cached_property
    def controls(self) -> pn.Column:
        w = pn.widgets
        return pn.Column(
            pn.pane.Markdown("### Symmetry & Latents", margin=(0, 5)),
            w.Select.from_param(self.param.dataset, label="Data set"),
            w.Select.from_param(self.param.sectors, label="Training sector", options=SECTORS),
            self.transport(),
            w.IntSlider.from_param(self.param.group_order, label="Group order n"),
            w.Checkbox.from_param(self.param.reflections, label="Reflections (dihedral group)"),
            w.DiscreteSlider.from_param(self.param.lr, label="Learning rate"),
            w.DiscreteSlider.from_param(self.param.step_size, label="Langevin step size ε"),
            self.secondary(
                w.Select.from_param(self.param.mode, label="Invariance", options=MODES),
                w.Select.from_param(self.param.latent_dim, label="Latent dimension"),
                w.DiscreteSlider.from_param(self.param.latent_step_size, label="Joint (x, z) Langevin step size"),
                w.IntInput.from_param(self.param.seed, label="Seed"),
                title="Models"),
            sizing_mode="stretch_width")

    @cached_property
    def view(self) -> pn.Column:
        return pn.Column(
            self.alert,
            flow(plot(self.equivariant.figure), plot(self.plain.figure)),
            self.symmetry_readouts.pane,
            flow(plot(self.marginal.figure), plot(self.joint.figure)),
            self.latent_readouts.pane,
            sizing_mode="stretch_width")

    def render(self, snapshot: dict) -> None:
        bounds = snapshot["bounds"]
        name = snapshot.get("group_name", "")
        for plot, key, label in ((self.equivariant, "equivariant", f"Equivariant energy ({name}): density"),
                                 (self.plain, "plain", "Plain MLP energy: density")):
            plot.show_grid(snapshot[f"{key}_density"], bounds, 0.0, snapshot[f"{key}_density_max"], label)
            plot.show_points(snapshot["subset"])
            plot.show_chains(snapshot[f"{key}_negatives"])
        if "latent_density" in snapshot:
            self.marginal.show_grid(snapshot["latent_density"], bounds, 0.0, snapshot["latent_density_max"],
                                    "Latent EBM: marginal density, data coloured by latent")
            self.marginal.show_colored(snapshot["data"], snapshot["latent_of_data"])
            self.joint.show_grid(snapshot["latent_density"], bounds, 0.0, snapshot["latent_density_max"],
                                 "Latent EBM: joint samples (x, z), coloured by z")
        self.joint.show_colored(snapshot["joint_samples"], snapshot["joint_latents"])
        self.symmetry_readouts.update(snapshot)
        self.latent_readouts.update(snapshot)
