"""What the JEM & OOD page's jobs share: the digits and OOD sets scored live with a model, the sample
chains, the probe image and the snapshot. ``jem.JEMJob`` and ``jem.ClassifierJob`` train their model;
``jem_borrowed.BorrowedEnergyJob`` scores a frozen copy of the Images page's ConvEBM.

About once a second (and at once when the score or temperature changes) the job scores the
in-distribution test digits and every OOD set; between those evaluations each snapshot rescores a
slice of every set (a tenth by default) with the current weights, so the histograms follow training
at the frame rate while the metrics table keeps to the evaluations. The snapshot carries: histograms of the chosen score
on shared bins; the acceptance / detection rates at every distinct score (they change only there, so
the page can move a threshold and read exact rates without asking the engine); AUROC / AUPR / FPR95
of the energy and softmax scores per OOD set; test accuracy; the samples; and the score of an image
the user uploaded or drew. The scoring itself is ``ood_scoring.OODScoring``.
"""
from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np
import param
import torch

from ebm_engine.data.digits import DigitSplit, load_digits_grey
from ebm_engine.data.ood import OOD_SET_LABELS, OOD_SET_NAMES, load_user_images, make_ood_set
from ebm_engine.data.paths import resolve_user_path
from ebm_engine.data.user_image import UserImageError, decode_png, rasterize_strokes
from ebm_engine.device import make_generator
from ebm_engine.metrics.ood import SCORE_LABELS, SCORES
from ebm_engine.runtime.controls import KNOB, LOG_KNOB, Controls
from ebm_engine.runtime.job import Job, to_numpy
from ebm_engine.runtime.views.ood_scoring import OODScoring
from ebm_engine.runtime.refresh import Refresh
from ebm_engine.runtime.mosaic import tile
from ebm_engine.runtime.parts import same_object

SAMPLE_CLASSES = ("all",) + tuple(str(k) for k in range(10))
HISTORY = 5000


class OODControls(Controls):
    """Settings and knobs of the JEM & OOD jobs."""

    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed")
    eval_every_s = param.Number(default=1.0, bounds=(0.0, None), precedence=-1)
    bins = param.Integer(default=40, bounds=(2, 1000), precedence=-1)
    samples_per_class = param.Integer(default=6, bounds=(1, 100), precedence=-1)
    sample_steps = param.Integer(default=4, bounds=(1, 1000), precedence=-1)
    n_examples = param.Integer(default=8, bounds=(1, 100), precedence=-1)
    rescore_slices = param.Integer(default=10, bounds=(1, 1000), precedence=-1)

    score = param.Selector(default="energy", objects=dict(zip(("Energy", "Softmax", "Grad norm"), SCORES)),
                           label="OOD score", doc="what ranks an image as out-of-distribution", metadata=KNOB)
    temperature = param.Number(default=1.0, bounds=(0.01, 100.0), softbounds=(0.1, 100.0),
                               label="Energy temperature T", doc="T in -T·logsumexp(f/T)", metadata=LOG_KNOB)
    sample_class = param.Selector(default="all", objects=list(SAMPLE_CLASSES), label="Sample class",
                                  doc="the class the samples of E(x, y) are drawn for", metadata=KNOB)
    lr = param.Number(default=1e-3, bounds=(1e-5, 0.1), softbounds=(1e-4, 0.01), label="Learning rate",
                      metadata=LOG_KNOB)
    sgld_steps = param.Integer(default=20, bounds=(1, 100), label="SGLD steps per iteration", metadata=KNOB)
    l2_weight = param.Number(default=0.1, bounds=(0.0, 1.0), step=0.01, label="Energy L2 weight",
                             doc="L2 penalty on both energies", metadata=KNOB)


class OODJob(OODScoring, Job):
    """Live OOD scoring of the digits with ``self.model``; subclasses make the model and its samples."""

    MODEL: ClassVar[str] = ""   # the page's name of the model
    CONTROLS = OODControls
    ACTIONS = ("probe_png", "probe_strokes", "clear_probe", "load_ood_set", "resample", "evaluate")
    DATA_KEY = None
    DATA_NAME = "digits"

    # --- what a model provides ------------------------------------------------------------------
    def make_model(self, split: DigitSplit) -> torch.nn.Module:
        """The scored model (and whatever trains it)."""
        raise NotImplementedError

    def _start_samples(self) -> None:
        """(Re)start the sample chains: ``samples``, their ``sample_energy`` and ``sample_labels``."""
        raise NotImplementedError

    def _sgld(self, energy, x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def class_readout(self, x: torch.Tensor) -> tuple[int, float]:
        """The predicted class of one image and its probability."""
        raise NotImplementedError

    def model_payload(self) -> dict[str, Any]:
        """The model's own figures of the snapshot (training progress, where a borrowed model came from)."""
        return {}

    # --- building ---------------------------------------------------------------------------
    def build(self) -> None:
        seed = int(self.config["seed"])
        split = load_digits_grey(seed=0)
        self.shape = tuple(split.shape)
        self.train = split.train.to(self.device)
        self.test = split.test.to(self.device)
        self.test_labels = split.test_labels.to(self.device)
        self.generator = make_generator(seed, self.device)
        self.display_generator = make_generator(seed + 1, self.device)   # the samples' steps between slices
        self.model = self.make_model(split)
        self.ood = {name: make_ood_set(name, split.test, self.shape, seed=seed).to(self.device)
                    for name in OOD_SET_NAMES}
        self.user_set_name: str | None = None
        self.history = {k: deque(maxlen=HISTORY) for k in ("step", "cross_entropy", "e_data", "e_neg")}
        self.eval_history = {k: deque(maxlen=HISTORY) for k in ("step", "test_accuracy")}
        self.evaluation: dict[str, Any] = {}
        self.eval_refresh = Refresh(lambda: self.config["eval_every_s"])
        self.kept_outputs: dict[str, tuple] = {}   # per scored set: (weights it was made with, logits)
        self.slice_weights: list[tuple | None] = []   # per slice of the sets: the weights that scored it
        self.rescore_slice = 0                         # where the next rescoring starts looking
        self.rolling_accuracy: dict[str, float] | None = None   # the accuracy of the rescored logits, at its step
        self.metrics_due = False
        self.probe_image: torch.Tensor | None = None
        self.probe_source = ""
        self.probe_error: str | None = None
        self._start_samples()
        self.on_knobs(self.knobs.as_dict())
        self.evaluate()

    def on_knobs(self, changed: dict[str, Any]) -> None:
        if "sample_class" in changed and hasattr(self, "samples"):
            self._start_samples()
        if ("score" in changed or "temperature" in changed) and self.evaluation:
            # the histograms at once; the AUROC/AUPR/FPR95 table (12 scikit-learn calls) once the knob rests
            self.evaluate(metrics=not self.wait_for_knobs(), fresh=False)

    def on_pause(self) -> None:
        """Paused, the page shows a full evaluation of the weights it stopped at (the next snapshot
        makes it), not rescored slices still on their way to them."""
        if self.evaluation:
            self.metrics_due = True

    # --- actions -----------------------------------------------------------------------------
    def action_probe_png(self, data: bytes = b"", filename: str = "") -> None:
        """Score an uploaded PNG (a bad file is reported in the snapshot, not raised)."""
        try:
            self._set_probe(decode_png(data, self.shape), filename or "uploaded PNG")
        except UserImageError as exc:
            self.probe_image, self.probe_error = None, str(exc)

    def action_probe_strokes(self, xs: list | None = None, ys: list | None = None) -> None:
        """Score a drawing given as strokes on a unit canvas."""
        try:
            self._set_probe(rasterize_strokes(xs or [], ys or [], self.shape), "drawing")
        except UserImageError as exc:
            self.probe_image, self.probe_error = None, str(exc)

    def _set_probe(self, row: np.ndarray, source: str) -> None:
        self.probe_image = torch.from_numpy(row).to(self.device).reshape(1, -1)
        self.probe_source, self.probe_error = source, None

    def action_clear_probe(self) -> None:
        self.probe_image, self.probe_error = None, None

    def action_load_ood_set(self, path: str = "") -> None:
        """Add (or replace) the user's own OOD set from a .npy file, an IDX file or an MNIST folder."""
        images = load_user_images(resolve_user_path(path) if str(path).strip() else "", self.shape)
        self.ood["user"] = images.to(self.device)
        self.user_set_name = str(path)
        self.evaluate()

    def action_resample(self) -> None:
        self._start_samples()

    def action_evaluate(self) -> None:
        self.evaluate()

    # --- snapshot ----------------------------------------------------------------------------
    def _score_label(self, score: str) -> str:
        return SCORE_LABELS[score]

    def _probe(self) -> dict[str, Any] | None:
        if self.probe_image is None:
            return None
        k = self.knobs
        s = self._scores(self.probe_image, float(k["temperature"]), k["score"] == "gradnorm")
        prediction, probability = self.class_readout(self.probe_image)
        threshold = self.evaluation.get("threshold95", float("nan"))
        value = float(s[k["score"]][0])
        image = self.parts.part("probe_image", same_object(self.probe_image),
                                lambda: tile(to_numpy(self.probe_image).reshape(1, *self.shape)))
        return {"image": image, "score": value,
                "energy": float(s["energy"][0]), "prediction": prediction, "probability": probability,
                "flagged_at_95": bool(value > threshold), "source": self.probe_source}

    def _evaluation(self) -> dict[str, Any]:
        ev = self.evaluation
        return {"score": ev["score"], "score_label": self._score_label(ev["score"]),
                "temperature": ev["temperature"],
                "eval_step": ev["eval_step"], "accuracy": ev["accuracy"],
                "edges": ev["edges"], "hist_id": ev["hist_id"], "hist_sets": ev["hist_sets"],
                "thresholds": ev["thresholds"], "rates": ev["rates"], "threshold95": ev["threshold95"],
                "metrics": ev["metrics"]}

    def _examples(self) -> np.ndarray:
        n = int(self.config["n_examples"])
        examples = torch.cat([self.test[:n]] + [x[:n] for x in self.ood.values()])
        return tile(to_numpy(examples).reshape(-1, *self.shape), cols=n)

    def payload(self) -> dict[str, Any]:
        # the OOD scores of the current weights, every ``eval_every_s``: a readout of the snapshot (it gives
        # way to a waiting command), not part of a training step
        if (self.metrics_due or self.eval_refresh.elapsed()) and not self.wait_for_knobs():
            self.readout(self.evaluation_steps())
        elif (part := self._stale_slice()) is not None:
            self._rescore_slice(part)
        parts, names = self.parts, list(self.ood)
        samples = self.samples   # replaced by every few SGLD steps and by a restart
        sample_cols = int(self.config["samples_per_class"]) if self.knobs["sample_class"] == "all" else 6
        return {
            "shape": self.shape,
            "model": self.MODEL,
            # every evaluation and rescoring makes a new one
            **parts.part("evaluation", same_object(self.evaluation), self._evaluation),
            "ood_sets": names,
            "ood_labels": {n: OOD_SET_LABELS[n] for n in names},
            "user_set": self.user_set_name,
            "examples": parts.part("examples", tuple((n, same_object(x)) for n, x in self.ood.items()),
                                   self._examples),
            "example_rows": ["test digits"] + [OOD_SET_LABELS[n] for n in names],
            "samples": parts.part("samples", same_object(samples),
                                  lambda: tile(to_numpy(samples).reshape(-1, *self.shape), cols=sample_cols)),
            "sample_class": self.knobs["sample_class"],
            "history": {k: np.asarray(v, dtype=np.float64) for k, v in self.history.items()},
            "eval_history": {k: np.asarray(v, dtype=np.float64) for k, v in self.eval_history.items()},
            "rolling_accuracy": self.rolling_accuracy,
            "probe": self._probe(),
            "probe_error": self.probe_error,
            "borrowed_step": None, "history_tail": None, "epoch": 0, "divergences": 0,
            **self.model_payload(),
        }
