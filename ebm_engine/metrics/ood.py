"""Out-of-distribution scores and metrics. Every score here is "higher = more out-of-distribution".

Scores from a classifier's logits ``f(x)`` (``(batch, n_classes)``):

- ``energy_score``: the free energy at temperature ``T``, ``-T·logsumexp(f/T)`` (at ``T = 1`` it is
  the JEM energy ``E(x)``);
- ``softmax_score``: minus the maximum softmax probability (the usual baseline, Hendrycks & Gimpel);
- ``gradient_norm_score``: ``‖∇ₓE(x)‖``: in-distribution points sit near modes of ``p(x)`` where the
  energy is flat (the JEM paper's "approximate mass" score, sign flipped).

``ood_metrics`` gives AUROC, AUPR and FPR95 with OOD as the positive class, from scikit-learn's
``roc_curve`` / ``roc_auc_score`` / ``average_precision_score``. ``OODDetector`` is a threshold at a
percentile of in-distribution scores, with the acceptance and detection rates it gives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from ebm_engine.energies.frozen import frozen
from ebm_engine.metrics.fisher import log_density_score
from ebm_engine.stepwise import stepwise

SCORES = ("energy", "softmax", "gradnorm")
SCORE_LABELS = {"energy": "energy −T·logsumexp(f/T)", "softmax": "−max softmax probability",
                "gradnorm": "input-gradient norm ‖∇ₓE‖"}


def energy_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``-T·logsumexp(f/T)`` per row; higher means more out-of-distribution."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return -temperature * torch.logsumexp(logits / temperature, dim=1)


def softmax_score(logits: torch.Tensor) -> torch.Tensor:
    """``-max_y softmax(f)[y]`` per row (in [-1, -1/K]); higher means more out-of-distribution."""
    return -torch.softmax(logits, dim=1).max(dim=1).values


def gradient_norm_score(model, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``‖∇ₓ E_T(x)‖₂`` per row, ``E_T`` the energy score at ``temperature``; model weights are untouched."""
    return input_gradient_norm(lambda v: energy_score(model.logits(v), temperature), x)


def input_gradient_norm(energy_fn, x: torch.Tensor) -> torch.Tensor:
    """``‖∇ₓ energy_fn(x)‖₂`` per row (any energy: a classifier's free energy or a plain EBM's)."""
    grad = log_density_score(energy_fn, x)
    return grad.reshape(grad.shape[0], -1).norm(dim=1)


@stepwise
def forward_in_batches(model, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """What the scores are made of, in eval mode and batches: a classifier's logits ``(n, K)``, or a
    plain energy's ``E(x)`` as one column. The temperature does not enter, so these can be kept while
    the weights stay the same and scored again at another temperature. Stepwise: yields between batches."""
    classifier = hasattr(model, "logits")
    outputs = []
    for start in range(0, len(x), batch_size):
        if start:
            yield   # between batches, outside no_grad and frozen: the caller's modes are its own meanwhile
        xb = x[start:start + batch_size]
        with frozen(model, eval_mode=True), torch.no_grad():
            outputs.append(model.logits(xb) if classifier else model.energy(xb)[:, None])
    return torch.cat(outputs) if outputs else torch.zeros(0, 1, device=x.device)


def scores_from_outputs(outputs: torch.Tensor, classifier: bool, temperature: float = 1.0) -> dict[str, np.ndarray]:
    """The energy and softmax scores and the prediction of ``forward_in_batches`` outputs (no gradient
    norm: that one needs the model). A plain energy has no softmax score or prediction (NaN, -1)."""
    n = len(outputs)
    if classifier:
        out = {"energy": energy_score(outputs, temperature), "softmax": softmax_score(outputs),
               "prediction": outputs.argmax(dim=1)}
    else:
        out = {"energy": outputs[:, 0], "softmax": torch.full((n,), float("nan"), device=outputs.device),
               "prediction": torch.full((n,), -1, device=outputs.device)}
    return {k: v.cpu().double().numpy() for k, v in out.items()}


def score_batches(model, x: torch.Tensor, temperature: float = 1.0, batch_size: int = 512,
                  with_gradnorm: bool = True) -> dict[str, np.ndarray]:
    """All scores of ``x`` (and the logits' argmax) as float64 numpy arrays, in batches.

    A model without ``logits`` (a plain energy such as the ConvEBM) is scored by its energy ``E(x)``
    (the temperature does not change its ranking, so it is not applied); it has no softmax score and
    no prediction: those come back as NaN and -1.
    """
    classifier = hasattr(model, "logits")
    out = scores_from_outputs(forward_in_batches(model, x, batch_size), classifier, temperature)
    gradnorm = []
    if with_gradnorm:
        with frozen(model, eval_mode=True):   # gradients with respect to the inputs only
            for start in range(0, len(x), batch_size):
                xb = x[start:start + batch_size]
                gradnorm.append(gradient_norm_score(model, xb, temperature) if classifier
                                else input_gradient_norm(model.energy, xb))
    out["gradnorm"] = torch.cat(gradnorm).cpu().double().numpy() if gradnorm else np.zeros(0)
    return out


def _check(id_scores, ood_scores) -> tuple[np.ndarray, np.ndarray]:
    id_scores = np.asarray(id_scores, dtype=np.float64).ravel()
    ood_scores = np.asarray(ood_scores, dtype=np.float64).ravel()
    if len(id_scores) == 0 or len(ood_scores) == 0:
        raise ValueError("ood_metrics needs at least one in-distribution and one OOD score")
    if not (np.isfinite(id_scores).all() and np.isfinite(ood_scores).all()):
        raise ValueError("OOD scores must be finite (a NaN or inf score has no rank)")
    return id_scores, ood_scores


def ood_metrics(id_scores, ood_scores, keep: float = 0.95) -> dict[str, float]:
    """AUROC, AUPR and FPR95 of separating OOD (positive) from in-distribution scores.

    - ``auroc``: ``roc_auc_score``: the probability that a random OOD sample scores above a random
      in-distribution one (ties count half).
    - ``aupr``: ``average_precision_score`` with OOD as the positive class ("AUPR-out").
    - ``fpr95``: the share of OOD samples scored at or below the lowest threshold that keeps (scores
      at or below it) at least ``keep`` = 95% of the in-distribution samples, read off
      ``roc_curve`` with in-distribution as the positive class and the negated score. Lower is better.
    """
    id_scores, ood_scores = _check(id_scores, ood_scores)
    y = np.concatenate([np.zeros(len(id_scores)), np.ones(len(ood_scores))])
    s = np.concatenate([id_scores, ood_scores])
    auroc = float(roc_auc_score(y, s))
    aupr = float(average_precision_score(y, s))
    ood_accepted, id_accepted, _ = roc_curve(1 - y, -s, drop_intermediate=False)
    fpr95 = float(ood_accepted[np.searchsorted(id_accepted, keep - 1e-12, side="left")])
    return {"auroc": auroc, "aupr": aupr, "fpr95": fpr95}


def acceptance_rates(id_scores, ood_scores, threshold: float) -> dict[str, float]:
    """At ``threshold``: the share of in-distribution samples accepted (score ≤ threshold) and of
    OOD samples detected (score > threshold)."""
    id_scores, ood_scores = _check(id_scores, ood_scores)
    return {"id_accepted": float((id_scores <= threshold).mean()),
            "ood_detected": float((ood_scores > threshold).mean())}


def rate_curves(id_scores, ood_sets: dict[str, np.ndarray], thresholds: np.ndarray) -> dict[str, np.ndarray]:
    """Acceptance of in-distribution samples and detection of each OOD set at every threshold
    (for a threshold that moves without recomputing scores); keys ``"id"`` and each set's name."""
    thresholds = np.asarray(thresholds, dtype=np.float64)

    def below_or_at(scores):
        ordered = np.sort(np.asarray(scores, dtype=np.float64))
        return np.searchsorted(ordered, thresholds, side="right") / max(len(ordered), 1)

    out = {"id": below_or_at(id_scores)}
    for name, scores in ood_sets.items():
        out[name] = 1.0 - below_or_at(scores)
    return out


@dataclass
class OODDetector:
    """A threshold at the ``percentile``-th percentile of in-distribution scores:
    the lowest in-distribution score with at least ``percentile``% of the scores at or below it.

    ``fit(id_scores)`` sets the threshold; ``rates(id_scores, ood_scores)`` gives the in-distribution
    acceptance and OOD detection rates at it; ``flag(scores)`` says which samples are called OOD.
    """

    percentile: float = 95.0
    threshold: float | None = None

    def fit(self, id_scores) -> "OODDetector":
        id_scores = np.asarray(id_scores, dtype=np.float64).ravel()
        if len(id_scores) == 0 or not np.isfinite(id_scores).all():
            raise ValueError("the detector needs finite in-distribution scores")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must lie in (0, 100], got {self.percentile}")
        self.threshold = float(np.percentile(id_scores, self.percentile, method="inverted_cdf"))
        return self

    def flag(self, scores) -> np.ndarray:
        if self.threshold is None:
            raise RuntimeError("call fit() first")
        return np.asarray(scores, dtype=np.float64) > self.threshold

    def rates(self, id_scores, ood_scores) -> dict[str, float]:
        if self.threshold is None:
            raise RuntimeError("call fit() first")
        return {"threshold": self.threshold, **acceptance_rates(id_scores, ood_scores, self.threshold)}
