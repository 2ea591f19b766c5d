"""RBM: train a restricted Boltzmann machine on digits by CD-k or PCD and watch it learn."""
from __future__ import annotations

from functools import cached_property

import panel as pn
import param

from app.plots.fit import flow, plot, stack
from app.plots.image_grid import ImageGrid
from app.plots.live_curves import LiveCurves
from app.widgets.readouts import Readouts
from app.pages.base import LabPage
from ebm_engine.runtime.jobs.rbm import RBMControls

class RBMPage(LabPage, RBMControls):
    """Reconstructions, filters, fantasy particles, clamp-and-complete, curves and AIS log-likelihood."""

    TITLE = "RBM"
    JOB_KIND = "rbm"
    EXPORTS = {"fantasy": "fantasy", "reconstructions": "reconstructions", "filters": "filters"}

    half = param.Selector(default="bottom", objects=["bottom", "top", "left", "right"], doc="half to hide")

    def __init__(self, session, on_status=None, **params):
        self.recon = ImageGrid("test digits | reconstructions", width=300, height=300, name="rbm-recon")
        self.filters = ImageGrid("hidden-unit filters", width=300, height=300, name="rbm-filters")
        self.fantasy = ImageGrid("fantasy particles (Gibbs)", width=260, height=260, name="rbm-fantasy")
        self.completion = ImageGrid("clamp and complete: original / hidden / filled in", width=560, height=230,
                                    name="rbm-completion")
        self.curves = LiveCurves({"recon_error": "reconstruction error"}, title="Reconstruction error",
                                 height=200, width=420)
        self.pl_curves = LiveCurves({"pseudo_ll": "pseudo-log-likelihood"}, title="Pseudo-log-likelihood (test)",
                                    height=200, width=420)
        self.readouts = Readouts([("test_ll", "test log-likelihood (AIS, nats)"), ("log_z", "log Z (AIS)"),
                                  ("ais_step", "measured at iteration")])
        self.complete_button = pn.widgets.Button(label="Hide half and complete", color="primary", width=200)
        self.complete_button.on_click(lambda _e: self.session.act(self.job_id, "complete", half=self.half))
        super().__init__(session, on_status, **params)

    @cached_property
    def controls(self) -> pn.Column:
        c = self.control
        return self.controls_column(
            c("dataset", buttons=True, label=""), c("mnist_folder", placeholder="/path/to/mnist"),
            self.transport(),
            c("method", buttons=True, label=""), c("k"), c("lr"), c("momentum"), c("temperature"), c("n_hidden"),
            self.secondary(c("weight_decay", widget=pn.widgets.FloatInput), c("seed"), title="More settings"))

    @cached_property
    def completion_controls(self) -> pn.FlexBox:
        """Which half to hide and the button, beside the plot they fill."""
        half = pn.widgets.RadioButtonGroup.from_param(self.param.half, color="primary", variant="outline")
        return flow(half, self.complete_button)

    @cached_property
    def view(self) -> pn.Column:
        bk = pn.pane.Bokeh
        return self.view_column(
            flow(bk(self.recon.figure), bk(self.filters.figure), bk(self.fantasy.figure)),
            flow(stack(plot(self.curves.figure), plot(self.pl_curves.figure), min_width=300, max_width=560),
                 pn.Column(self.readouts.pane, self.completion_controls, bk(self.completion.figure))))

    def render(self, snapshot: dict) -> None:
        versions = snapshot.get("versions", {})
        self.recon.show(snapshot["reconstructions"], versions.get("reconstructions"))
        self.filters.show(snapshot["filters"], versions.get("filters"))
        self.fantasy.show(snapshot["fantasy"], versions.get("fantasy"))
        if "completion" in snapshot:
            self.completion.show(snapshot["completion"], versions.get("completion"))
        self.curves.update(snapshot["history"])
        self.pl_curves.update(snapshot["history"])
        # the AIS error of log Z is also that of the log-likelihood
        error = snapshot.get("log_z_std")
        self.readouts.update({**snapshot, "log_z_se": error, "test_ll_se": error})
