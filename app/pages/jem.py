"""JEM & OOD: train a JEM (or a plain classifier) on digits and watch in- and out-of-distribution
scores separate; move a threshold, compare energy with softmax, score your own image."""
from __future__ import annotations

from functools import cached_property

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, FreehandDrawTool, Range1d
from bokeh.plotting import figure

from app.plots.fit import flow, plot, stack
from app.plots.image_grid import ImageGrid
from app.plots.live_curves import LiveCurves
from app.widgets.ood_table import OODMetricsTable, RatesTable
from app.plots.score_histogram import ScoreHistogram, rates_at
from app.pages.base import LabPage
from ebm_engine.runtime.jobs.jem import JEMControls
from ebm_engine.data.ood import OOD_SET_LABELS, OOD_SET_NAMES

ALL_SETS = [*OOD_SET_NAMES, "user"]
DEFAULT_SETS = ["gaussian", "uniform", "inverted", "rotated", "natural"]


class JEMPage(LabPage, JEMControls):
    """Histograms with a threshold, metrics table, accuracy curve, class-conditional samples, probe image."""

    TITLE = "JEM & OOD"
    JOB_KIND = "jem"
    KIND_SETTING = "model"   # each model is a job kind of its own
    KINDS = {"jem": "jem", "classifier": "jem_classifier", "images_conv_ebm": "jem_borrowed"}
    EXPORTS = {"samples": "samples"}

    model = param.Selector(default="jem", objects={"JEM": "jem", "Classifier": "classifier",
                                                   "Images ConvEBM": "images_conv_ebm"}, label="Model",
                           doc="JEM (cross-entropy + SGLD generative term), the same net with cross-entropy only, "
                               "or a copy of the ConvEBM trained on the Images page (Reset takes a fresh copy)")
    ood_sets = param.ListSelector(default=list(DEFAULT_SETS), objects=list(ALL_SETS), doc="OOD sets shown")
    threshold = param.Number(default=0.0, bounds=(-1e12, 1e12),
                             doc="score above which an image is called out-of-distribution (finite)")
    follow_95 = param.Boolean(default=True, doc="keep the threshold where it accepts 95% of test digits")
    user_path = param.String(default="", doc=".npy file, IDX image file or MNIST-format folder")

    def __init__(self, session, on_status=None, **params):
        self.histogram = ScoreHistogram(list(ALL_SETS), OOD_SET_LABELS, on_threshold=self._threshold_from_plot)
        self.metrics_table = OODMetricsTable()
        self.rates_table = RatesTable()
        self.accuracy = LiveCurves({"test_accuracy": "test accuracy"}, height=200, width=380,
                                   title="Test accuracy (dashed: a tenth rescored per frame)")
        self.accuracy.figure.y_range.update(start=0.0, end=1.0)
        self.accuracy.figure.legend.location = "bottom_right"   # accuracy rises towards the top right
        self.losses = LiveCurves({"cross_entropy": "cross-entropy", "e_data": "E(data)", "e_neg": "E(SGLD samples)"},
                                 title="Training curves (dashed: SGLD chains in flight)", height=200, width=380)
        self.samples = ImageGrid("samples from E(x, y)", width=230, height=330, name="jem-samples")
        self.examples = ImageGrid("test digits, then one row per OOD set", width=300, height=260,
                                  name="jem-examples")
        self.probe_grid = ImageGrid("your image", width=90, height=90, name="jem-probe", blank=(8, 8))
        self.probe_text = pn.pane.HTML("", name="probe-readout", sizing_mode="stretch_width")
        self.upload = pn.widgets.FileInput(accept=".png", multiple=False, sizing_mode="stretch_width")
        self.upload.param.watch(self._uploaded, "value")
        self.strokes = ColumnDataSource({"xs": [], "ys": []})
        self.strokes.on_change("data", lambda _attr, _old, _new: self._drawn())
        self.canvas = figure(frame_width=150, frame_height=150, x_range=Range1d(0, 1), y_range=Range1d(0, 1),
                             tools="", toolbar_location=None, name="jem-canvas", min_border=0, title=None,
                             background_fill_color="#ffffff", outline_line_color="#888888")
        lines = self.canvas.multi_line("xs", "ys", source=self.strokes, line_width=9, line_color="#111111",
                                       line_cap="round", line_join="round")
        draw = FreehandDrawTool(renderers=[lines])
        self.canvas.add_tools(draw)
        self.canvas.toolbar.active_drag = draw
        self.canvas.axis.visible = self.canvas.grid.visible = False
        self.clear_button = pn.widgets.Button(label="Clear drawing", color="light", sizing_mode="stretch_width")
        self.clear_button.on_click(lambda _e: self._clear_probe())
        self.follow_button = pn.widgets.Button(label="Threshold at 95% of test digits", color="primary",
                                               variant="outline", sizing_mode="stretch_width")
        self.follow_button.on_click(lambda _e: setattr(self, "follow_95", True))
        self.resample_button = pn.widgets.Button(label="Restart samples", color="primary", variant="outline",
                                                 sizing_mode="stretch_width")
        self.resample_button.on_click(lambda _e: self.session.act(self.job_id, "resample"))
        self.load_button = pn.widgets.Button(label="Load OOD set", color="primary", sizing_mode="stretch_width")
        self.load_button.on_click(lambda _e: self.session.act(self.job_id, "load_ood_set", path=self.user_path))
        self.threshold_slider = pn.widgets.FloatSlider(label="Threshold", start=-1.0, end=1.0, step=0.01, value=0.0,
                                                       format="0.000", sizing_mode="stretch_width")
        self.threshold_slider.param.watch(lambda e: setattr(self, "threshold", e.new), "value")
        self._moving = False
        self._user_key: str | None = None
        super().__init__(session, on_status, **params)
        self.param.watch(lambda _e: self._threshold_moved(), ["threshold"])
        self.param.watch(lambda _e: self._redraw(), ["ood_sets", "follow_95"])

    # --- controls and layout -------------------------------------------------------------------
    @cached_property
    def controls(self) -> pn.Column:
        w, c = pn.widgets, self.control
        return self.controls_column(
            c("model", buttons=True, label=""),
            self.transport(),
            c("score", buttons=True, label=""),
            c("temperature"),
            pn.pane.Markdown("**OOD sets**", margin=(5, 5, 0, 5)),
            w.CheckButtonGroup.from_param(self.param.ood_sets, color="primary", variant="outline",
                                          options={OOD_SET_LABELS[n]: n for n in ALL_SETS},
                                          orientation="vertical", sizing_mode="stretch_width"),
            self.threshold_slider,
            self.follow_button,
            c("sample_class"),
            self.resample_button,
            self.secondary(c("lr"), c("sgld_steps"), c("l2_weight"), c("seed"), title="Training"),
            self.secondary(w.TextInput.from_param(self.param.user_path, label="Your OOD set",
                                                  placeholder="/path/to/images.npy or MNIST folder"),
                           self.load_button, title="Your own OOD set"))

    @cached_property
    def view(self) -> pn.Column:
        bk = pn.pane.Bokeh
        probe = pn.Column(
            pn.pane.Markdown("**Drop an image**: upload a PNG or draw a digit", margin=(0, 5)),
            self.upload,
            bk(self.canvas), self.clear_button, bk(self.probe_grid.figure), self.probe_text, width=320)
        return self.view_column(
            flow(plot(self.histogram.figure), stack(self.rates_table.pane, min_width=270, max_width=420)),
            self.metrics_table.pane,
            flow(stack(plot(self.accuracy.figure), plot(self.losses.figure), min_width=440, max_width=520),
                 bk(self.samples.figure), probe),
            bk(self.examples.figure))

    # --- rendering -------------------------------------------------------------------------------
    def render(self, snapshot: dict) -> None:
        if snapshot.get("user_set") and "user" not in self.ood_sets and self._user_key != snapshot["user_set"]:
            self._user_key = snapshot["user_set"]   # a newly loaded set of the user's is shown once
            self.ood_sets = [*self.ood_sets, "user"]
        self.accuracy.update(snapshot["eval_history"])
        self.accuracy.show_tail(snapshot.get("rolling_accuracy"))
        self.losses.update(snapshot["history"])
        self.losses.show_tail(snapshot.get("history_tail"))
        versions = snapshot.get("versions", {})
        self.samples.show(snapshot["samples"], versions.get("samples"))
        self.examples.show(snapshot["examples"], versions.get("examples"))
        self._redraw()

    def _visible_sets(self, snapshot: dict) -> list[str]:
        return [n for n in snapshot["ood_sets"] if n in self.ood_sets]

    def _redraw(self) -> None:
        snap = self.last_snapshot
        if not snap or "edges" not in snap:
            return
        sets = self._visible_sets(snap)
        self.histogram.show(snap["edges"], snap["hist_id"], snap["hist_sets"], set(sets),
                            snap.get("versions", {}).get("evaluation"))
        self.histogram.figure.xaxis.axis_label = f"{snap['score_label']}  (higher = more out-of-distribution)"
        self.metrics_table.update(snap["metrics"], sets, snap["ood_labels"])
        lo, hi = float(snap["edges"][0]), float(snap["edges"][-1])
        self._moving = True
        try:
            self.threshold_slider.param.update(start=lo, end=hi, step=(hi - lo) / 400)
            if self.follow_95 and np.isfinite(snap["threshold95"]):
                self.threshold = float(snap["threshold95"])
            elif not lo <= self.threshold <= hi:
                self.threshold = min(max(self.threshold, lo), hi)
        finally:
            self._moving = False
        self._show_threshold()
        self._show_probe(snap)

    def _show_threshold(self) -> None:
        snap = self.last_snapshot
        if not snap or "rates" not in snap:
            return
        self.histogram.set_threshold(self.threshold)
        rates = rates_at(snap["thresholds"], snap["rates"], self.threshold)
        self.rates_table.update(self.threshold, rates, self._visible_sets(snap), snap["ood_labels"])

    def _threshold_moved(self) -> None:
        if not self._moving:
            self.follow_95 = False
        self.threshold_slider.value = self.threshold
        self._show_threshold()

    def _threshold_from_plot(self, x: float) -> None:
        self.follow_95 = False
        lo, hi = self.threshold_slider.start, self.threshold_slider.end
        self.threshold = min(max(x, lo), hi)

    def _show_probe(self, snap: dict) -> None:
        probe, error = snap.get("probe"), snap.get("probe_error")
        if error or not probe:
            self.probe_text.object = f'<div class="ebm-probe-error" id="probe-error">{error}</div>' if error else ""
            self.histogram.set_probe(None)
            return
        self.probe_grid.show(probe["image"], snap.get("versions", {}).get("probe_image"))
        self.histogram.set_probe(probe["score"])
        verdict = "out-of-distribution" if probe["score"] > self.threshold else "accepted as a digit"
        label = "– (an energy without classes)" if probe["prediction"] < 0 else \
            f'{probe["prediction"]} (p = {probe["probability"]:.2f})'
        self.probe_text.object = (
            f'<table class="ebm-readouts"><tr><th>score</th><td id="probe-score">{probe["score"]:.3f}</td></tr>'
            f'<tr><th>energy E(x)</th><td id="probe-energy">{probe["energy"]:.3f}</td></tr>'
            f'<tr><th>class</th><td id="probe-class">{label}</td></tr>'
            f'<tr><th>at the threshold</th><td id="probe-verdict">{verdict}</td></tr></table>')

    # --- the user's image -------------------------------------------------------------------------
    def _uploaded(self, event) -> None:
        if event.new:
            self.session.act(self.job_id, "probe_png", data=bytes(event.new), filename=self.upload.filename or "")

    def _drawn(self) -> None:
        xs, ys = list(self.strokes.data.get("xs", [])), list(self.strokes.data.get("ys", []))
        if xs:
            self.session.act(self.job_id, "probe_strokes", xs=[list(map(float, s)) for s in xs],
                             ys=[list(map(float, s)) for s in ys])

    def _clear_probe(self) -> None:
        self.strokes.data = {"xs": [], "ys": []}
        self.session.act(self.job_id, "clear_probe")
