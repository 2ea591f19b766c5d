"""scikit-learn's 8×8 handwritten digits, binarised (for RBMs) or grey (for image models), with a fixed split.

The data ship with scikit-learn (``sklearn.datasets.load_digits``: 1797 images, 8×8, integer
pixel values 0..16, labels 0..9), so nothing is downloaded. The default binarising threshold 8.0
is the middle of the 0..16 range (about 32% of the pixels are on).

Both loaders use the same split for the same ``(test_fraction, seed)``: a stratified
``train_test_split`` with ``random_state=seed``, so every class is in both parts in (almost) the
same proportion, and the split is identical on every call, machine and process.

The raw arrays and the split indices are cached (``functools.lru_cache``; loading takes ~0.1 s);
every call returns fresh tensors, so a caller may modify them in place.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ebm_engine.config import check_number

DIGITS_SHAPE: tuple[int, int] = (8, 8)
DIGITS_MAX_PIXEL = 16.0


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensors field by field has no single truth value
class DigitSplit:
    """A labelled image data set split into train and test rows.

    ``train`` / ``test`` are float32 ``(N, H*W)`` tensors (flattened row-major images; 0/1 when
    binarised, [0, 1] when grey), ``train_labels`` / ``test_labels`` int64 ``(N,)``, ``shape`` is
    ``(H, W)`` for un-flattening, ``name`` says what the data are. ``train_index`` /
    ``test_index`` (int64) are the rows of the source the split took (for sklearn's digits: rows
    of ``load_digits()``; for IDX files: rows of the train file and of the test file).
    """

    train: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor
    test_labels: torch.Tensor
    shape: tuple[int, int]
    name: str
    train_index: torch.Tensor | None = None
    test_index: torch.Tensor | None = None


@lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's digits as read-only (1797, 64) float64 pixels 0..16 and (1797,) int64 labels."""
    from sklearn.datasets import load_digits  # imported here: only this loader needs scikit-learn

    bunch = load_digits()
    pixels = np.asarray(bunch.data, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


@lru_cache(maxsize=16)
def _split_indices(test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row indices (train, test) of a stratified split; deterministic for (test_fraction, seed)."""
    from sklearn.model_selection import train_test_split

    _, labels = _raw_digits()
    rows = np.arange(labels.shape[0])
    train_rows, test_rows = train_test_split(
        rows, test_size=test_fraction, random_state=seed, shuffle=True, stratify=labels)
    train_rows, test_rows = np.sort(train_rows), np.sort(test_rows)
    train_rows.setflags(write=False)
    test_rows.setflags(write=False)
    return train_rows, test_rows


def _check_split_args(test_fraction: float, seed: int) -> None:
    check_number("test_fraction", test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
    n = _raw_digits()[1].shape[0]
    n_classes = 10
    n_test = math.ceil(test_fraction * n)
    if n_test < n_classes or n - n_test < n_classes:
        raise ValueError(f"test_fraction={test_fraction} leaves {n_test} test and {n - n_test} train rows; "
                         f"a stratified split needs at least {n_classes} in each")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")


def _build(values: np.ndarray, test_fraction: float, seed: int, name: str) -> DigitSplit:
    _check_split_args(test_fraction, seed)
    _, labels = _raw_digits()
    train_rows, test_rows = _split_indices(float(test_fraction), int(seed))
    return DigitSplit(
        train=torch.tensor(values[train_rows], dtype=torch.float32),
        test=torch.tensor(values[test_rows], dtype=torch.float32),
        train_labels=torch.tensor(labels[train_rows], dtype=torch.int64),
        test_labels=torch.tensor(labels[test_rows], dtype=torch.int64),
        shape=DIGITS_SHAPE,
        name=name,
        train_index=torch.tensor(train_rows, dtype=torch.int64),
        test_index=torch.tensor(test_rows, dtype=torch.int64),
    )


def load_digits_binary(threshold: float = 8.0, test_fraction: float = 0.2, seed: int = 0) -> DigitSplit:
    """sklearn's 8×8 digits as 0/1 float32 rows (``pixel >= threshold``), stratified fixed split.

    ``threshold`` is on the raw 0..16 pixel scale and must lie in (0, 16] (at 0 every pixel would
    be on). With the defaults: 1437 train rows, 360 test rows, 64 visible units.
    """
    check_number("threshold", threshold)
    if not 0.0 < threshold <= DIGITS_MAX_PIXEL:
        raise ValueError(f"threshold must be in (0, {DIGITS_MAX_PIXEL:g}] (pixels are 0..16), got {threshold!r}")
    binary = (_raw_digits()[0] >= threshold).astype(np.float32)
    return _build(binary, test_fraction, seed, f"digits-binary(pixel>={threshold:g}/16)")


def load_digits_grey(test_fraction: float = 0.2, seed: int = 0) -> DigitSplit:
    """sklearn's 8×8 digits as float32 rows scaled to [0, 1] (``pixel / 16``), same split as the binary set."""
    grey = (_raw_digits()[0] / DIGITS_MAX_PIXEL).astype(np.float32)
    return _build(grey, test_fraction, seed, "digits-grey")
