"""What the JEM & OOD page's jobs share: the digits and OOD sets scored live with a model, the sample
chains, the probe image and the snapshot. ``jem.JEMJob`` and ``jem.ClassifierJob`` train their model;
``jem_borrowed.BorrowedEnergyJob`` scores a frozen copy of the Images page's ConvEBM.

About once a second (and at once when the score or temperature changes) the job scores the
in-distribution test digits and every OOD set; between those evaluations each snapshot rescores a
slice of every set (a tenth by default) with the current weights, so the histograms follow training
at the frame rate while the metrics table keeps to the evaluations. The acceptance / detection rates
are sent at every distinct score (they change only there), so the page can move a threshold and read
exact rates without asking the engine. The logits of each set are kept, so a new temperature is
scored without a forward pass.
"""
from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any, Callable, ClassVar

import numpy as np
import param
import torch

from ebm_engine.data.digits import DigitSplit, load_digits_grey
from ebm_engine.data.ood import OOD_SET_LABELS, OOD_SET_NAMES, load_user_images, make_ood_set
from ebm_engine.data.paths import resolve_user_path
from ebm_engine.data.user_image import UserImageError, decode_png, rasterize_strokes
from ebm_engine.device import make_generator
from ebm_engine.metrics.ood import (SCORE_LABELS, SCORES, OODDetector, forward_in_batches, ood_metrics, rate_curves,
                                   score_batches, scores_from_outputs)
from ebm_engine.runtime.controls import KNOB, LOG_KNOB, Controls
from ebm_engine.runtime.job import Job, to_numpy, weights_version
from ebm_engine.runtime.refresh import Refresh
from ebm_engine.runtime.views.curves import Curves
from ebm_engine.runtime.mosaic import tile
from ebm_engine.runtime.parts import same_object
from ebm_engine.stepwise import finish

SAMPLE_CLASSES = ("all",) + tuple(str(k) for k in range(10))
HISTORY = 5000


class OODControls(Controls):
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


class OODJob(Job):
    """Live OOD scoring of the digits with ``self.model``; subclasses make the model and its samples."""

    MODEL: ClassVar[str] = ""   # the page's name of the model
    TABLE_SCORES: ClassVar[tuple[str, ...]] = ("energy", "softmax")   # the scores of the metrics table
    CONTROLS = OODControls
    ACTIONS = ("probe_png", "probe_strokes", "clear_probe", "load_ood_set", "resample", "evaluate")
    DATA_KEY = None
    DATA_NAME = "digits"

    # --- what a model provides, besides ``_sgld(energy, x, steps, generator=None)`` ------------------
    def make_model(self, split: DigitSplit) -> torch.nn.Module:
        """The scored model (and whatever trains it)."""
        raise NotImplementedError

    def _start_samples(self) -> None:
        """(Re)start the sample chains: ``samples`` and their ``sample_energy``."""
        raise NotImplementedError

    def class_readout(self, x: torch.Tensor) -> tuple[int, float]:
        """The predicted class of one image and its probability."""
        raise NotImplementedError

    def model_payload(self) -> dict[str, Any]:
        """The model's own figures of the snapshot (training progress, where a borrowed model came from)."""
        return {}

    # --- building ---------------------------------------------------------------------------
    def build(self) -> None:
        seed = self.config["seed"]
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
        self.history = Curves(("step", "cross_entropy", "e_data", "e_neg"), HISTORY)
        self.eval_history = Curves(("step", "test_accuracy"), HISTORY)
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
        self._set_probe(lambda: decode_png(data, self.shape), filename or "uploaded PNG")

    def action_probe_strokes(self, xs: list | None = None, ys: list | None = None) -> None:
        """Score a drawing given as strokes on a unit canvas."""
        self._set_probe(lambda: rasterize_strokes(xs or [], ys or [], self.shape), "drawing")

    def _set_probe(self, image: Callable[[], np.ndarray], source: str) -> None:
        try:
            self.probe_image = torch.from_numpy(image()).to(self.device).reshape(1, -1)
            self.probe_source, self.probe_error = source, None
        except UserImageError as exc:
            self.probe_image, self.probe_error = None, str(exc)

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

    # --- scoring ------------------------------------------------------------------------------
    def _score_steps(self, x: torch.Tensor, temperature: float, gradnorm: bool, kept: str | None = None,
                     reuse: bool = False) -> Generator:
        """Scores of ``x``, as steps between batches of the forward pass; with ``kept`` (a set's name) its
        logits are kept while the weights stay the same, so a new temperature is scored without a forward
        pass (paused: ~120 ms → a few ms). ``reuse`` takes the kept logits even if the weights have changed
        since they were computed."""
        if gradnorm or kept is None:
            return score_batches(self.model, x, temperature=temperature, with_gradnorm=gradnorm)
        weights = weights_version(self.model)
        cached = self.kept_outputs.get(kept)
        if cached is None or (cached[0] != weights and not reuse):
            outputs = yield from forward_in_batches.steps(self.model, x)
            cached = self.kept_outputs[kept] = (weights, outputs)
        return scores_from_outputs(cached[1], hasattr(self.model, "logits"), temperature)

    def _scored_sets(self) -> dict[str, torch.Tensor]:
        """The sets an evaluation scores, by their name in ``kept_outputs``."""
        return {"test": self.test, **{f"ood:{name}": x for name, x in self.ood.items()}}

    def _stale_slice(self) -> int | None:
        """The next slice (from the cursor on) scored by weights older than the current ones, if a
        rescoring may run: there is an evaluation to update, the score is made from logits (the gradient
        norm needs a backward pass per image: it keeps to the evaluations), and no knob is moving (its
        answer goes first)."""
        if (not self.evaluation or self.knobs["score"] == "gradnorm" or self.wait_for_knobs()
                or len(self.slice_weights) < 2 or not all(n in self.kept_outputs for n in self._scored_sets())):
            return None
        current, slices = weights_version(self.model), len(self.slice_weights)
        order = ((self.rescore_slice + i) % slices for i in range(slices))
        return next((part for part in order if self.slice_weights[part] != current), None)

    def _rescore_slice(self, part: int) -> None:
        """Score one slice of every set with the current weights and redraw the histograms and rate curves
        from the kept logits; the metrics table and the accuracy curve's points wait for the evaluation
        (the accuracy of the kept logits, made by the weights of the last few slices, is its tail)."""
        slices = len(self.slice_weights)
        for name, x in self._scored_sets().items():
            _, outputs = self.kept_outputs[name]
            lo, hi = part * len(x) // slices, (part + 1) * len(x) // slices
            if hi > lo:
                outputs[lo:hi] = forward_in_batches(self.model, x[lo:hi])
            self.kept_outputs[name] = ("rescored", outputs)   # made by several weights: never reused as fresh
        self.slice_weights[part] = weights_version(self.model)
        self.rescore_slice = part + 1
        self.evaluate(metrics=False, fresh=False, table_due=False)
        if math.isfinite(self.evaluation["accuracy"]):   # the accuracy curve's provisional tail, between evaluations
            self.rolling_accuracy = {"step": float(self.step_count), "test_accuracy": self.evaluation["accuracy"]}

    def accuracy(self, predictions: np.ndarray) -> float:
        """The share of test digits whose predicted class is their label."""
        return float((predictions == to_numpy(self.test_labels)).mean())

    def _metrics_table(self, ids: dict, sets: dict) -> Generator:
        """AUROC, AUPR and FPR95 per OOD set for the energy and softmax scores (blank where the model has
        no such score: ``TABLE_SCORES``); non-finite scores give blanks and a warning. A step per figure."""
        blank = dict.fromkeys(("auroc", "aupr", "fpr95"), float("nan"))
        table, problems = {}, []
        for name, s in sets.items():
            table[name] = {"energy": dict(blank), "softmax": dict(blank)}
            for kind in self.TABLE_SCORES:
                yield   # inside ``Job.readout``: a waiting command comes first
                try:
                    table[name][kind] = ood_metrics(ids[kind], s[kind])
                except ValueError as exc:
                    problems.append(f"{name}/{kind}: {exc}")
        if problems:
            self.warn("some scores are not finite: " + "; ".join(problems[:3]))
        return table

    def evaluate(self, metrics: bool = True, fresh: bool = True, table_due: bool = True) -> None:
        """``evaluation_steps`` in one go."""
        finish(self.evaluation_steps(metrics, fresh, table_due))

    def evaluation_steps(self, metrics: bool = True, fresh: bool = True, table_due: bool = True) -> Generator:
        """Score the test digits and every OOD set; histograms, rate curves and metrics for the page.
        Steps between batches and metrics (``Job.readout`` drops it for a waiting command). Without
        ``metrics`` the last metrics table stays and is marked due (``payload`` redoes it),
        unless ``table_due`` is False (a rescoring between evaluations: the table waits for the next).
        Without ``fresh`` (a knob's answer while training), the sets are scored again from the logits of
        the evaluation on the page, not from weights that have moved on since: the answer shows that
        evaluation at the new temperature, at once, and the next evaluation brings the new weights."""
        k = self.knobs
        score, temperature = k["score"], float(k["temperature"])
        gradnorm = score == "gradnorm"
        reuse = (not fresh and not gradnorm and bool(self.evaluation)
                 and all(n in self.kept_outputs for n in self._scored_sets()))
        ids = yield from self._score_steps(self.test, temperature, gradnorm, kept="test", reuse=reuse)
        accuracy = self.accuracy(ids["prediction"])
        sets = {}
        for name, x in self.ood.items():
            sets[name] = yield from self._score_steps(x, temperature, gradnorm, kept=f"ood:{name}", reuse=reuse)
        table = (yield from self._metrics_table(ids, sets)) if metrics else self.evaluation.get("metrics", {})
        if metrics or table_due:
            self.metrics_due = not metrics
        chosen = {name: s[score] for name, s in sets.items()}
        pooled = np.concatenate([ids[score], *chosen.values()])
        pooled = pooled[np.isfinite(pooled)]
        lo, hi = (float(pooled.min()), float(pooled.max())) if len(pooled) else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        pad = 0.02 * (hi - lo)
        edges = np.linspace(lo - pad, hi + pad, self.config["bins"] + 1)
        # the rates only change at a score: at these points (and below them all) they are exact
        thresholds = np.concatenate([[edges[0]], np.unique(pooled)])

        def density(values: np.ndarray) -> np.ndarray:
            return np.histogram(values[np.isfinite(values)], bins=edges, density=True)[0]

        finite_ids = ids[score][np.isfinite(ids[score])]
        self.evaluation = {
            "score": score, "temperature": temperature,
            "eval_step": self.evaluation["eval_step"] if reuse else self.step_count,
            "accuracy": accuracy, "edges": edges, "hist_id": density(ids[score]),
            "hist_sets": {name: density(v) for name, v in chosen.items()},
            "thresholds": thresholds,
            "rates": rate_curves(finite_ids, {n: v[np.isfinite(v)] for n, v in chosen.items()}, thresholds),
            "threshold95": OODDetector(95.0).fit(finite_ids).threshold if len(finite_ids) else float("nan"),
            "metrics": table,
        }
        if not reuse:   # a new evaluation of the weights (a rescoring adds nothing to the history)
            self.eval_history.add(step=float(self.evaluation["eval_step"]), test_accuracy=accuracy)
            self.eval_refresh.mark(self.step_count)
            self.slice_weights = [weights_version(self.model)] * self.config["rescore_slices"]
            self.rolling_accuracy = None

    # --- snapshot ----------------------------------------------------------------------------
    def _score_label(self, score: str) -> str:
        return SCORE_LABELS[score]

    def _probe(self) -> dict[str, Any] | None:
        if self.probe_image is None:
            return None
        k = self.knobs
        s = finish(self._score_steps(self.probe_image, float(k["temperature"]), k["score"] == "gradnorm"))
        prediction, probability = self.class_readout(self.probe_image)
        image = self.parts.part("probe_image", same_object(self.probe_image),
                                lambda: tile(to_numpy(self.probe_image).reshape(1, *self.shape)))
        return {"image": image, "score": float(s[k["score"]][0]), "energy": float(s["energy"][0]),
                "prediction": prediction, "probability": probability, "source": self.probe_source}

    def _examples(self) -> np.ndarray:
        n = self.config["n_examples"]
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
        sample_cols = self.config["samples_per_class"] if self.knobs["sample_class"] == "all" else 6
        return {
            "shape": self.shape,
            "model": self.MODEL,
            # every evaluation and rescoring makes a new one
            **parts.part("evaluation", same_object(self.evaluation),
                         lambda: {**self.evaluation, "score_label": self._score_label(self.evaluation["score"])}),
            "ood_sets": names,
            "ood_labels": {n: OOD_SET_LABELS[n] for n in names},
            "user_set": self.user_set_name,
            "examples": parts.part("examples", tuple((n, same_object(x)) for n, x in self.ood.items()),
                                   self._examples),
            "samples": parts.part("samples", same_object(samples),
                                  lambda: tile(to_numpy(samples).reshape(-1, *self.shape), cols=sample_cols)),
            "sample_class": self.knobs["sample_class"],
            "history": self.history.arrays(),
            "eval_history": self.eval_history.arrays(),
            "rolling_accuracy": self.rolling_accuracy,
            "probe": self._probe(),
            "probe_error": self.probe_error,
            "borrowed_step": None, "history_tail": None, "divergences": 0,
            **self.model_payload(),
        }
