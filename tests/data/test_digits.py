"""sklearn digits loaders: binarisation, shapes and dtypes, a deterministic stratified split with no overlap."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from ebm_engine.data import DigitSplit, load_digits_binary, load_digits_grey

N_DIGITS = 1797


@pytest.fixture(scope="module")
def raw():
    bunch = load_digits()
    return bunch.data, bunch.target


def test_shapes_dtypes_and_binary_values():
    d = load_digits_binary()
    assert isinstance(d, DigitSplit)
    assert d.shape == (8, 8) and d.train.shape[1] == 64 and "digits" in d.name
    assert d.train.shape == (1437, 64) and d.test.shape == (360, 64)
    assert d.train.dtype == torch.float32 and d.test.dtype == torch.float32
    assert d.train_labels.dtype == torch.int64 and d.test_labels.dtype == torch.int64
    assert d.train_labels.shape == (1437,) and d.test_labels.shape == (360,)
    for x in (d.train, d.test):
        assert set(torch.unique(x).tolist()) == {0.0, 1.0}


def test_binarisation_is_pixel_at_least_threshold(raw):
    pixels, labels = raw
    for threshold in (8.0, 3.0, 16.0):
        d = load_digits_binary(threshold=threshold)
        expected = torch.tensor((pixels[d.train_index.numpy()] >= threshold).astype(np.float32))
        assert torch.equal(d.train, expected)
        assert torch.equal(d.test_labels, torch.tensor(labels[d.test_index.numpy()]))
    assert load_digits_binary(threshold=4.0).train.mean() > load_digits_binary(threshold=12.0).train.mean()


def test_split_is_deterministic_and_seeded():
    a, b = load_digits_binary(seed=0), load_digits_binary(seed=0)
    assert torch.equal(a.train, b.train) and torch.equal(a.test_labels, b.test_labels)
    assert torch.equal(a.test_index, b.test_index)
    c = load_digits_binary(seed=1)
    assert not torch.equal(a.test_index, c.test_index)


def test_split_partitions_rows_without_overlap():
    d = load_digits_binary(test_fraction=0.25, seed=3)
    train, test = set(d.train_index.tolist()), set(d.test_index.tolist())
    assert not train & test
    assert train | test == set(range(N_DIGITS))
    assert len(test) == pytest.approx(0.25 * N_DIGITS, abs=1)


def test_split_is_stratified(raw):
    _, labels = raw
    d = load_digits_binary()
    overall = np.bincount(labels, minlength=10) / N_DIGITS
    for part in (d.train_labels, d.test_labels):
        counts = torch.bincount(part, minlength=10).numpy()
        assert (counts > 0).all()  # every class in both splits
        assert np.abs(counts / counts.sum() - overall).max() < 0.01


def test_grey_matches_binary_split_and_range(raw):
    pixels, _ = raw
    g, b = load_digits_grey(), load_digits_binary()
    assert torch.equal(g.train_index, b.train_index) and torch.equal(g.test_labels, b.test_labels)
    assert g.train.dtype == torch.float32 and g.shape == (8, 8) and g.name != b.name
    assert float(g.train.min()) == 0.0 and float(g.train.max()) == 1.0
    assert torch.allclose(g.test, torch.tensor(pixels[g.test_index.numpy()] / 16.0, dtype=torch.float32))
    assert torch.equal((g.train * 16 >= 8).float(), b.train)


def test_returned_tensors_are_independent_of_the_cache():
    d = load_digits_binary()
    d.train.fill_(7.0)
    assert set(torch.unique(load_digits_binary().train).tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("kwargs", [dict(threshold=0.0), dict(threshold=17), dict(threshold=float("nan")),
                                    dict(test_fraction=0.0), dict(test_fraction=1.0), dict(test_fraction=0.001),
                                    dict(seed=-1)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        load_digits_binary(**kwargs)
