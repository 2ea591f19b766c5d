"""Symmetry & Latents: an equivariant and a plain energy learn from one sector of symmetric data; a latent EBM."""
from __future__ import annotations

from functools import cached_property

import panel as pn

from app.plots.fit import flow, plot
from app.widgets.readouts import Readouts
from app.plots.surface_plot import ColoredPointsPlot, SurfacePlot
from app.plots.framed import plot_box
from app.pages.base import LabPage
from ebm_engine.runtime.jobs.symmetry_latents import SymmetryLatentsControls

class SymmetryLatentsPage(LabPage, SymmetryLatentsControls):
    """Equivariant vs plain densities with their readouts; the latent EBM's marginal, latents and joint samples."""

    TITLE = "Symmetry & Latents"
    JOB_KIND = "symmetry_latents"
    EXPORTS = {"equivariant_negatives": "equivariant_negatives", "plain_negatives": "plain_negatives",
               "joint_samples": "joint_samples"}

    def __init__(self, session, on_status=None, **params):
        self.equivariant = SurfacePlot(title="Equivariant energy: density", points_legend="training sector",
                                       chains_legend="negatives", width=500, height=470, name="equivariant-density")
        self.plain = SurfacePlot(title="Plain MLP energy: density", points_legend="training sector",
                                 chains_legend="negatives", width=500, height=470, name="plain-density")
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
        c = self.control
        return self.controls_column(
            c("dataset"), c("sectors"),
            self.transport(),
            c("group_order"), c("reflections"), c("lr"), c("step_size"),
            self.secondary(c("mode"), c("latent_dim"), c("latent_step_size"), c("seed"), title="Models"))

    @cached_property
    def view(self) -> pn.Column:
        return self.view_column(
            flow(plot(self.equivariant.figure), plot(self.plain.figure)),
            self.symmetry_readouts.pane,
            flow(plot(self.marginal.figure), plot(self.joint.figure)),
            self.latent_readouts.pane)

    def render(self, snapshot: dict) -> None:
        bounds, versions = snapshot["bounds"], snapshot.get("versions", {})
        name = snapshot.get("group_name", "")
        for surface, key, label in ((self.equivariant, "equivariant", f"Equivariant energy ({name}): density"),
                                    (self.plain, "plain", "Plain MLP energy: density")):
            surface.show_grid(snapshot[f"{key}_density"], bounds, 0.0, snapshot[f"{key}_density_max"], label,
                              versions.get(f"{key}_density"))
            surface.show_points(snapshot["subset"], versions.get("subset"))
            surface.show_chains(snapshot[f"{key}_negatives"], versions.get(f"{key}_negatives"))
        if "latent_density" in snapshot:
            density = versions.get("latent_density")
            self.marginal.show_grid(snapshot["latent_density"], bounds, 0.0, snapshot["latent_density_max"],
                                    "Latent EBM: marginal density, data coloured by latent", density)
            # the data is fixed for the job; the encoder's latents come with each readout
            self.marginal.show_colored(snapshot["data"], snapshot["latent_of_data"], versions.get("readouts"))
            self.joint.show_grid(snapshot["latent_density"], bounds, 0.0, snapshot["latent_density_max"],
                                 "Latent EBM: joint samples (x, z), coloured by z", density)
        self.joint.show_colored(snapshot["joint_samples"], snapshot["joint_latents"], versions.get("joint"))
        self.symmetry_readouts.update(snapshot)
        self.latent_readouts.update(snapshot)
