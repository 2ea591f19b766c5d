"""Out-of-distribution scoring for the JEM & OOD page: every set scored with the model, histograms
on shared bins, exact detection rates at every distinct score, and AUROC / AUPR / FPR95 per set.

``OODScoring`` is mixed into ``ood_job.OODJob``. ``evaluate`` scores the test digits and every OOD set (a
full evaluation: one point of the accuracy curve, the metrics table); between evaluations
``_rescore_slice`` scores one slice of every set with the current weights, so the histograms follow
training at the frame rate, and the accuracy of the rescored test logits is the accuracy curve's
provisional tail. The logits are kept per set, so a new temperature is scored without a
forward pass.
"""
from __future__ import annotations

import math
from collections.abc import Generator
from typing import ClassVar

import numpy as np
import torch

from ebm_engine.metrics.ood import (OODDetector, forward_in_batches, ood_metrics, rate_curves, score_batches,
                                   scores_from_outputs)
from ebm_engine.runtime.job import to_numpy, weights_version
from ebm_engine.stepwise import finish


class OODScoring:
    """The scoring half of ``OODJob`` (it reads the job's model, sets, knobs and config)."""

    TABLE_SCORES: ClassVar[tuple[str, ...]] = ("energy", "softmax")   # the scores of the metrics table

    def _scores(self, x: torch.Tensor, temperature: float, gradnorm: bool) -> dict[str, np.ndarray]:
        """Scores of ``x`` in one go."""
        return finish(self._score_steps(x, temperature, gradnorm))

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
        current = weights_version(self.model)
        slices = len(self.slice_weights)
        for i in range(slices):
            part = (self.rescore_slice + i) % slices
            if self.slice_weights[part] != current:
                return part
        return None

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
        blank = {"auroc": float("nan"), "aupr": float("nan"), "fpr95": float("nan")}
        table, problems = {}, []
        for name, s in sets.items():
            table[name] = {}
            for kind in ("energy", "softmax"):
                if kind not in self.TABLE_SCORES:
                    table[name][kind] = dict(blank)
                    continue
                yield   # inside ``Job.readout``: a waiting command comes first
                try:
                    table[name][kind] = ood_metrics(ids[kind], s[kind])
                except ValueError as exc:
                    table[name][kind] = dict(blank)
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
        edges = np.linspace(lo - pad, hi + pad, int(self.config["bins"]) + 1)
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
            self.eval_history["step"].append(float(self.evaluation["eval_step"]))
            self.eval_history["test_accuracy"].append(accuracy)
            self.eval_refresh.mark(self.step_count)
            self.slice_weights = [weights_version(self.model)] * int(self.config["rescore_slices"])
            self.rolling_accuracy = None
