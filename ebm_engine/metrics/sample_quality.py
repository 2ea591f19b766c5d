"""Sample quality of generated digits: a Fréchet distance and an inception score from a small digit classifier.

The classifier is scikit-learn's ``MLPClassifier`` (two ReLU layers) trained on the training split
with a fixed ``random_state``: deterministic, but 5-20 s on a busy 2-core machine. The one for the
default digits split ships in ``assets/classifiers/`` (written by ``python -m
ebm_engine.metrics.classifier_asset``), so scoring starts at once without scikit-learn fitting
anything. Other data sets are fitted once and kept in memory and in a small ``.npz`` file under the
lab's cache folder (``EBM_LAB_CACHE``, default ``~/.cache/ebm-lab``); a missing, damaged or
unwritable cache only means fitting again.

- **Fréchet distance** (the FID recipe with this classifier in place of Inception): fit a Gaussian
  to the last hidden layer's features of each sample set and compute
  ``|μ₁ - μ₂|² + tr(Σ₁ + Σ₂ - 2 (Σ₁Σ₂)^½)``. Zero for identical sets, large for noise.
- **Inception score**: ``exp(E_x KL(p(y|x) ‖ p(y)))`` from the classifier's class probabilities,
  between 1 (unrecognisable or one class only) and 10 (confident and all ten classes equally often).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import softmax
from threadpoolctl import threadpool_limits

from ebm_engine.assets import assets_folder
from ebm_engine.data.digits import DigitSplit

_CLASSIFIERS: dict[str, "DigitClassifier"] = {}
CLASSIFIERS_FOLDER = assets_folder() / "classifiers"   # the shipped ones, beside the pretrained checkpoints


@dataclass
class DigitClassifier:
    """A fitted ReLU MLP classifier (scikit-learn's ``MLPClassifier`` weights) with access to its features."""

    coefs: list[np.ndarray]          # one ``(in, out)`` matrix per layer, the last one to the classes
    intercepts: list[np.ndarray]
    test_accuracy: float

    def features(self, images: np.ndarray) -> np.ndarray:
        """Activations of the last hidden layer, ``(n, hidden)``, for images flattened to ``(n, H·W)``."""
        h = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        for weights, bias in zip(self.coefs[:-1], self.intercepts[:-1]):
            h = np.maximum(h @ weights + bias, 0.0)
        return h

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, classes)``: the softmax of the output layer, as ``predict_proba``."""
        return softmax(self.features(images) @ self.coefs[-1] + self.intercepts[-1], axis=1)


def _cache_file(key: str) -> Path:
    """Where a fitted classifier is kept between processes (under ``EBM_LAB_CACHE`` or ``~/.cache/ebm-lab``)."""
    import sklearn

    name = hashlib.sha1(f"{key}:sklearn-{sklearn.__version__}".encode()).hexdigest()[:20]
    return Path(os.environ.get("EBM_LAB_CACHE") or Path.home() / ".cache" / "ebm-lab") / f"digit-classifier-{name}.npz"


def shipped_file(split: DigitSplit) -> Path:
    """Where the shipped classifier of a data set like ``split`` lies (it may be absent)."""
    height, width = split.shape
    return CLASSIFIERS_FOLDER / f"digit-classifier-{split.name}-{height}x{width}.npz"


def classifier_key(split: DigitSplit, seed: int = 0) -> str:
    """What a classifier is fitted from: the split's exact rows and the fit's seed."""
    digest = hashlib.sha1()
    for t in (split.train, split.train_labels, split.test, split.test_labels):
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return f"{split.name}:{split.shape}:{digest.hexdigest()}:{seed}"


def _read_cached(path: Path, key: str | None = None) -> DigitClassifier | None:
    """The classifier stored in ``path``; None when it is missing, damaged or (``key``) fitted from other data."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if key is not None and ("key" not in f.files or str(f["key"]) != key):
                return None
            layers = int(f["layers"])
            return DigitClassifier([f[f"coef{i}"] for i in range(layers)],
                                   [f[f"intercept{i}"] for i in range(layers)], float(f["test_accuracy"]))
    except (OSError, KeyError, ValueError, EOFError):
        return None


def classifier_arrays(classifier: DigitClassifier, key: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of a classifier's ``.npz`` file (``_read_cached`` reads them back)."""
    arrays = {"layers": np.array(len(classifier.coefs)), "test_accuracy": np.array(classifier.test_accuracy)}
    if key is not None:
        arrays["key"] = np.array(key)
    arrays.update({f"coef{i}": np.asarray(c) for i, c in enumerate(classifier.coefs)})
    arrays.update({f"intercept{i}": np.asarray(b) for i, b in enumerate(classifier.intercepts)})
    return arrays


def _write_cached(path: Path, classifier: DigitClassifier) -> None:
    """Write atomically (temp file, rename); a cache that cannot be written is skipped silently."""
    arrays = classifier_arrays(classifier)
    with suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(temporary, path)


def digit_classifier(split: DigitSplit, seed: int = 0) -> DigitClassifier:
    """The classifier for ``split`` (trained on its train rows with ``random_state=seed``): the shipped
    one when it was fitted from the same rows and seed, else the cached or a fresh fit."""
    key = classifier_key(split, seed)
    if key not in _CLASSIFIERS:
        shipped = _read_cached(shipped_file(split), key)
        if shipped is not None:
            _CLASSIFIERS[key] = shipped
        else:
            path = _cache_file(key)
            _CLASSIFIERS[key] = _read_cached(path) or _fit(split, seed)
            if not path.exists():
                _write_cached(path, _CLASSIFIERS[key])
    return _CLASSIFIERS[key]


def _fit(split: DigitSplit, seed: int) -> DigitClassifier:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(hidden_layer_sizes=(128, 64), alpha=1e-3, max_iter=300, random_state=seed)
    # one BLAS thread: this small fit is ~10x slower when BLAS threads compete for a few cores
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(split.train.numpy().astype(np.float64), split.train_labels.numpy())
    accuracy = float(model.score(split.test.numpy().astype(np.float64), split.test_labels.numpy()))
    return DigitClassifier([np.asarray(c) for c in model.coefs_], [np.asarray(b) for b in model.intercepts_],
                           accuracy)


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased) of ``(n, d)`` features."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need at least two feature rows (n, d), got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet distance between the Gaussians ``N(μ₁, Σ₁)`` and ``N(μ₂, Σ₂)``.

    ``tr((Σ₁Σ₂)^½)`` is computed as ``Σ √λ`` over the eigenvalues of the symmetric
    ``Σ₁^½ Σ₂ Σ₁^½`` (same spectrum as ``Σ₁Σ₂``), which stays stable for singular covariances.
    """
    root1 = _psd_sqrt(np.asarray(cov1, dtype=np.float64))
    middle = root1 @ np.asarray(cov2, dtype=np.float64) @ root1
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)))
    distance = np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_root
    return float(max(distance, 0.0))


def inception_score(probabilities: np.ndarray) -> float:
    """``exp(E_x KL(p(y|x) ‖ p(y)))`` for rows of class probabilities."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


class SampleQuality:
    """Scores sample sets against a data set's test images with its cached digit classifier."""

    def __init__(self, split: DigitSplit, seed: int = 0):
        self.classifier = digit_classifier(split, seed)
        self.shape = tuple(split.shape)
        self.reference = gaussian_fit(self.classifier.features(split.test.numpy()))

    def fid(self, images: np.ndarray) -> float:
        """Fréchet distance of ``images`` (n, ...) against the test images."""
        return frechet_distance(*gaussian_fit(self.classifier.features(images)), *self.reference)

    def inception_score(self, images: np.ndarray) -> float:
        return inception_score(self.classifier.probabilities(images))

    def evaluate(self, images: np.ndarray) -> dict[str, float]:
        """``{"fid": ..., "inception_score": ...}`` for a batch of images with pixels in [0, 1]."""
        images = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        return {"fid": self.fid(images), "inception_score": self.inception_score(images)}
