"""Images: watch a ConvEBM, or an EBM + generator, learn to generate digits; measure the samples."""
from __future__ import annotations

import io
from functools import cached_property

import panel as pn
import param

from app.plots.fit import flow, plot
from app.plots.image_grid import ImageGrid
from app.plots.live_curves import LiveCurves
from app.widgets.readouts import Readouts
from app.pages.base import LabPage
from ebm_engine.runtime.jobs.images import ImagesControls
from ebm_engine.runtime.exports import mosaic_png

MODELS = {"ConvEBM": "conv_ebm", "EBM + generator": "ebm_generator"}
QUALITY_LABELS = {"conv_ebm": ("replay buffer", "short-run from noise"),
                  "ebm_generator": ("refined proposals", "raw proposals")}


class ImagesPage(LabPage, ImagesControls):
    """Sample grids, replay buffer or generator proposals, energy/loss curves, FID/IS, generate-from-noise."""

    TITLE = "Images"
    JOB_KIND = "images"
    KIND_SETTING = "model"   # each model is a job kind of its own
    KINDS = {"conv_ebm": "images", "ebm_generator": "images_generator"}
    EXPORTS = {"samples": "samples"}

    model = param.Selector(default="conv_ebm", objects=MODELS, label="Model", doc="the model the page trains")

    def __init__(self, session, on_status=None, **params):
        self.samples = ImageGrid("current samples", width=260, height=260, name="images-samples")
        self.buffer = ImageGrid("replay buffer: the slots this iteration drew", width=260, height=260,
                                name="images-buffer")
        self.proposals = ImageGrid("generator proposals | refined", width=260, height=260, name="images-proposals")
        self.generation = ImageGrid("generate from noise", width=260, height=260, name="images-generation")
        self.energy_curves = LiveCurves({"e_data": "E(data)", "e_samples": "E(samples)"}, height=220, width=400,
                                        title="Energies (dashed: the iteration in flight)")
        self.loss_curves = LiveCurves({"loss": "loss"}, title="Loss (dashed: if the chains stopped now)",
                                      height=220, width=400)
        main, other = QUALITY_LABELS["conv_ebm"]
        self.fid_curves = LiveCurves({"fid": main, "fid_other": other}, title="Fréchet distance (lower is better)",
                                     height=220, width=400)
        self.is_curves = LiveCurves({"inception_score": main, "inception_score_other": other},
                                    title="Inception score (higher is better)", height=220, width=400)
        self.is_curves.figure.legend.location = "bottom_right"
        self.readouts = Readouts([("fid", "Fréchet distance (first set)"),
                                  ("inception_score", "inception score (first set)"),
                                  ("fid_other", "Fréchet distance (second set)"),
                                  ("inception_score_other", "inception score (second set)"),
                                  ("quality_step", "measured at iteration"),
                                  ("classifier_accuracy", "digit classifier test accuracy"),
                                  ("generation_step", "generation step")])
        self.quality_note = pn.pane.Markdown("", sizing_mode="stretch_width", margin=(0, 5),
                                             css_classes=["images-quality-note"])
        self.generate_button = pn.widgets.Button(label="Generate from noise", color="primary",
                                                 sizing_mode="stretch_width")
        self.generate_button.on_click(lambda _e: self.session.act(self.job_id, "generate"))
        self.download = pn.widgets.FileDownload(callback=self.samples_png, filename="ebm-lab-samples.png",
                                                label="Export samples as PNG", color="default", variant="outline",
                                                sizing_mode="stretch_width")
        super().__init__(session, on_status, **params)
        self.checkpoints.restart = lambda: self.command("reset")   # pauses at iteration 0, a new model

    def samples_png(self) -> io.BytesIO | None:
        """The current sample grid as PNG bytes (the download button's callback)."""
        samples = (self.last_snapshot or {}).get("samples")
        return None if samples is None else io.BytesIO(mosaic_png(samples))

    @cached_property
    def controls(self) -> pn.Column:
        c = self.control
        return self.controls_column(
            c("model", buttons=True, label=""), c("dataset", buttons=True, label=""),
            c("mnist_folder", placeholder="/path/to/mnist"),
            self.transport(),
            c("lr"), c("langevin_steps"), c("step_size"), c("noise_scale"), c("reinit_fraction"), c("temperature"),
            self.secondary(c("l2_weight", widget=pn.widgets.FloatInput),
                           c("entropy_weight", widget=pn.widgets.FloatInput), c("width"), c("spectral_norm"),
                           c("checkpointing"), c("seed"), title="More settings"),
            pn.pane.Markdown("**Generate from noise**", margin=(5, 5, 0, 5)),
            c("generate_steps"),
            self.generate_button,
            self.download)

    @cached_property
    def view(self) -> pn.Column:
        bk = pn.pane.Bokeh
        self.proposals.figure.visible = False
        return self.view_column(
            flow(bk(self.samples.figure), bk(self.buffer.figure), bk(self.proposals.figure),
                 bk(self.generation.figure)),
            flow(plot(self.energy_curves.figure), plot(self.loss_curves.figure)),
            flow(plot(self.fid_curves.figure), plot(self.is_curves.figure)),
            flow(self.readouts.pane, self.quality_note))

    def render(self, snapshot: dict) -> None:
        versions = snapshot.get("versions", {})
        self.samples.show(snapshot["samples"], versions.get("samples"))
        generator_model = snapshot.get("model") == "ebm_generator"
        if generator_model:
            self.proposals.show(snapshot["proposals"], versions.get("samples"))   # one part with the samples
        else:
            self.buffer.show(snapshot["buffer"], versions.get("buffer"))
        if self.proposals.figure.visible != generator_model:   # the grid that fits the model
            self.proposals.figure.visible, self.buffer.figure.visible = generator_model, not generator_model
        if "generation" in snapshot:
            self.generation.show(snapshot["generation"], versions.get("generation"))
        self.energy_curves.update(snapshot["history"])
        self.energy_curves.show_tail(snapshot.get("history_tail"))
        self.loss_curves.update(snapshot["history"])
        self.loss_curves.show_tail(snapshot.get("history_tail"))
        self.fid_curves.update(snapshot["quality_history"])
        self.is_curves.update(snapshot["quality_history"])
        self.readouts.update(snapshot)
        main, other = QUALITY_LABELS.get(snapshot.get("model"), ("samples", "second set"))
        self.fid_curves.relabel({"fid": main, "fid_other": other})
        self.is_curves.relabel({"inception_score": main, "inception_score_other": other})
        note = (f"First set: **{main}**; second set: **{other}**. Both are scored against the test digits "
                f"with a small digit classifier's features.")
        if snapshot.get("quality_error"):
            note = f"Sample quality unavailable: {snapshot['quality_error']}"
        elif snapshot.get("settling_step") is not None:
            note = (f"Settling a replay buffer under the loaded model (Langevin step {snapshot['settling_step']} of "
                    f"{snapshot['settling_steps']}, shown as the current samples); training follows.")
        elif snapshot.get("classifier_accuracy") is None:
            note = "Preparing the digit classifier for the sample-quality scores…"
        if note != self.quality_note.object:
            self.quality_note.object = note
