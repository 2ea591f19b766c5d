"""Score Matching: watch an energy learn a 2D set by denoising, sliced or exact score matching, beside CD."""
from __future__ import annotations

from functools import cached_property

import numpy as np
import panel as pn

from app.plots.fit import flow, plot, stack
from app.plots.live_curves import LiveCurves
from app.widgets.readouts import Readouts
from app.plots.surface_plot import SurfacePlot
from app.plots.vector_field_plot import VectorFieldPlot
from app.plots.framed import plot_box
from app.pages.base import LabPage
from ebm_engine.runtime.jobs.score_matching import ScoreMatchingControls

class ScoreMatchingPage(LabPage, ScoreMatchingControls):
    """Controls for the score-matching job; learned vs true score fields, their disagreement, CD beside it."""

    TITLE = "Score Matching"
    JOB_KIND = "score_matching"
    EXPORTS = {"samples": "samples", "data": "data"}

    def __init__(self, session, on_status=None, **params):
        self.learned = VectorFieldPlot(title="Learned score −∇E, energy E(x)", name="learned-field",
                                       points_legend=None)
        self.truth = VectorFieldPlot(title="True score ∇log p, data density", name="true-field",
                                     samples_legend=None)
        self.disagreement = SurfacePlot(title="Score disagreement p·½‖Δs‖²", points_legend=None, chains_legend=None,
                                        width=500, height=470, name="disagreement")
        self.contrastive = SurfacePlot(title="CD, same time budget: density", chains_legend=None,
                                       width=500, height=470, name="cd-density")
        self.curves = LiveCurves({"loss": "score-matching loss"}, title="Training loss", width=500)
        self.readouts = Readouts([
            ("fisher_sm", "Fisher divergence to the data score, score matching"),
            ("fisher_cd", "Fisher divergence to the data score, CD"),
            ("nll_sm", "held-out NLL, score matching"), ("nll_cd", "held-out NLL, CD"),
            ("nll_true", "true NLL"), ("seconds_sm", "training seconds, score matching"),
            ("seconds_cd", "training seconds, CD"), ("steps_sm", "iterations, score matching"),
            ("steps_cd", "iterations, CD")])
        super().__init__(session, on_status, **params)
        for field in (self.learned, self.truth, self.disagreement, self.contrastive):
            field.show_frame(plot_box(self.dataset))

    @cached_property
    def controls(self) -> pn.Column:
        c = self.control
        return self.controls_column(
            c("dataset"),
            self.transport(),
            c("method", buttons=True), c("sigma"), c("lr"), c("noise_levels"),
            self.secondary(c("projection"), c("sample_step"), c("hidden"), c("seed"), title="Sampling and model"))

    @cached_property
    def view(self) -> pn.Column:
        return self.view_column(
            flow(plot(self.learned.figure), plot(self.truth.figure)),
            flow(plot(self.disagreement.figure), plot(self.contrastive.figure)),
            flow(plot(self.curves.figure), stack(self.readouts.pane, min_width=320, max_width=560)))

    def render(self, snapshot: dict) -> None:
        bounds, versions = snapshot["bounds"], snapshot.get("versions", {})
        learned, truth = versions.get("learned"), versions.get("truth")
        for field in (self.truth, self.contrastive):
            field.show_points(snapshot["data"], versions.get("data"))
        low, high = snapshot["energy_range"]
        ladder = snapshot["ladder"]
        level = f"σ = {ladder[-1]:g}" + (f", {len(ladder)} levels" if len(ladder) > 1 else "")
        self.learned.show_grid(snapshot["energy"], bounds, low, high,
                               f"{snapshot['knobs']['method'].capitalize()}, {level}: −∇E on E", learned)
        reference = snapshot["arrow_reference"]
        self.learned.show_arrows(snapshot["learned_field"], bounds, reference, learned)
        self.learned.show_samples(snapshot["samples"], versions.get("samples"))
        if snapshot.get("true_density") is not None:
            self.truth.show_grid(snapshot["true_density"], bounds, 0.0, snapshot["true_density_max"],
                                 "True score ∇log p, data density", truth)
        else:
            self.truth.show_grid(np.zeros((2, 2), np.float32), bounds, 0.0, 1.0,
                                 "No closed-form score: data only", truth)
        # with a true field its length scale is the field's own (fixed); without one there are no arrows
        self.truth.show_arrows(snapshot.get("true_field"), bounds, reference, truth)
        if snapshot.get("fisher_map") is not None:
            self.disagreement.show_grid(snapshot["fisher_map"], bounds, 0.0, snapshot["fisher_map_max"],
                                        "Disagreement p·½‖∇log p + ∇E‖²", learned)
        else:
            self.disagreement.show_empty(bounds, "No closed-form score: no disagreement map", learned)
        self.contrastive.show_grid(snapshot["cd_density"], bounds, 0.0, snapshot["cd_density_max"],
                                   "CD, same time budget: density", versions.get("cd"))
        self.curves.update(snapshot["history"])
        self.readouts.update(snapshot)
