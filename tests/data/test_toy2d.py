"""2D toy data sets: shapes, reproducibility, geometry, and the exact densities where known."""
from __future__ import annotations

import math

import pytest
import torch

from ebm_engine.data import TOY2D_NAMES, toy2d
from ebm_engine.energies.base import FunctionEnergy
from ebm_engine.metrics.partition import log_partition_grid

EXPECTED = {"8gaussians", "2spirals", "checkerboard", "rings", "moons", "pinwheel", "swissroll", "circles"}
KNOWN_DENSITY = ["8gaussians", "rings", "circles", "checkerboard"]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_names_exported():
    assert set(toy2d.NAMES) == EXPECTED and TOY2D_NAMES == toy2d.NAMES


@pytest.mark.parametrize("name", toy2d.NAMES)
def test_shape_dtype_finite_and_inside_bounds(name):
    x = toy2d.sample(name, 3001, gen(0))
    assert x.shape == (3001, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    (x0, x1), (y0, y1) = toy2d.bounds(name)
    inside = (x[:, 0] > x0) & (x[:, 0] < x1) & (x[:, 1] > y0) & (x[:, 1] < y1)
    assert inside.float().mean() > 0.999
    assert x.std(0).min() > 0.5  # spread over the box, not collapsed


@pytest.mark.parametrize("name", toy2d.NAMES)
def test_generator_reproducibility(name):
    a, b, c = toy2d.sample(name, 200, gen(1)), toy2d.sample(name, 200, gen(1)), toy2d.sample(name, 200, gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_bad_arguments():
    with pytest.raises(ValueError, match="8gaussians"):  # the message lists the names
        toy2d.sample("spiral", 10, gen(0))
    for n in (0, -3, 2.5, True):
        with pytest.raises(ValueError):
            toy2d.sample("moons", n, gen(0))
    with pytest.raises(ValueError):
        toy2d.bounds("nope")
    with pytest.raises(ValueError):
        toy2d.true_log_prob("nope")


def test_bounds():
    assert toy2d.bounds("checkerboard") == ((-4.0, 4.0), (-4.0, 4.0))
    for name in toy2d.NAMES:
        (x0, x1), (y0, y1) = toy2d.bounds(name)
        assert x0 < x1 and y0 < y1


def test_eight_gaussians_clusters():
    n = 16000
    x = toy2d.sample("8gaussians", n, gen(3)).double()
    angles = torch.arange(8, dtype=torch.float64) * math.pi / 4
    centres = 4 * torch.stack([torch.cos(angles), torch.sin(angles)], 1) / 1.414
    d2 = torch.cdist(x, centres) ** 2
    nearest = d2.argmin(1)
    counts = torch.bincount(nearest, minlength=8).double()
    sd = math.sqrt(n * (1 / 8) * (7 / 8))
    assert (torch.abs(counts - n / 8) < 5 * sd).all(), counts
    # Squared distance to the own centre is sigma^2 * chi2(2): mean 2 sigma^2, sigma = 0.5 / 1.414.
    sigma2 = (0.5 / 1.414) ** 2
    own = d2.min(1).values
    assert abs(float(own.mean()) - 2 * sigma2) < 4 * 2 * sigma2 / math.sqrt(n)


def test_checkerboard_alternating_squares():
    x = toy2d.sample("checkerboard", 5000, gen(4)).double()
    assert ((x >= -4) & (x < 4)).all()
    cells = torch.floor(x / 2)
    assert (torch.remainder(cells.sum(1), 2) == 0).all()
    # All 8 filled squares are used, about equally.
    index = (cells[:, 0] + 2) * 4 + (cells[:, 1] + 2)
    counts = torch.bincount(index.long(), minlength=16)
    assert int((counts > 0).sum()) == 8
    assert counts[counts > 0].min() > 5000 / 8 * 0.8


@pytest.mark.parametrize("name,radii,noise", [("rings", (0.75, 1.5, 2.25, 3.0), 0.08), ("circles", (1.5, 3.0), 0.24)])
def test_ring_radii(name, radii, noise):
    n = 8000
    r = torch.linalg.vector_norm(toy2d.sample(name, n, gen(5)).double(), dim=1)
    big_r = torch.tensor(radii, dtype=torch.float64)
    resid = r[:, None] - big_r[None]
    which = resid.abs().argmin(1)
    counts = torch.bincount(which, minlength=len(radii)).double()
    p = 1 / len(radii)
    assert (torch.abs(counts - n * p) < 5 * math.sqrt(n * p * (1 - p))).all(), counts
    own = resid.gather(1, which[:, None]).squeeze(1)
    # Radial part of isotropic 2D noise around a circle of radius R >> noise: ~ N(noise^2 / (2R), noise^2).
    assert 0.9 * noise < float(own.std()) < 1.1 * noise


def test_true_log_prob_availability():
    for name in toy2d.NAMES:
        lp = toy2d.true_log_prob(name)
        assert (lp is not None) == (name in KNOWN_DENSITY), name


@pytest.mark.parametrize("name", KNOWN_DENSITY)
def test_true_log_prob_integrates_to_one(name):
    lp = toy2d.true_log_prob(name)
    # Checkerboard: 400 cells over [-4, 4] align with the squares' edges, so the rule is exact.
    energy = FunctionEnergy(lambda x: -lp(x.double()))
    assert abs(log_partition_grid(energy, toy2d.bounds(name), resolution=400)) < 1e-4


@pytest.mark.parametrize("name", KNOWN_DENSITY)
def test_true_log_prob_matches_the_data(name):
    """Mean log-density of samples = -entropy (grid); a wrong density or sampler moves it by many stderr."""
    lp = toy2d.true_log_prob(name)
    a = lp(toy2d.sample(name, 20000, gen(6)).double())
    b = lp(toy2d.sample(name, 20000, gen(7)).double())
    assert torch.isfinite(a).all() and torch.isfinite(b).all()  # every sample lies where the density is positive
    se = math.sqrt(float(a.var()) / a.numel() + float(b.var()) / b.numel())
    assert abs(float(a.mean()) - float(b.mean())) < 4 * se + 1e-12
    (x0, x1), (y0, y1) = toy2d.bounds(name)
    res = 400
    xs = x0 + (torch.arange(res, dtype=torch.float64) + 0.5) * (x1 - x0) / res
    ys = y0 + (torch.arange(res, dtype=torch.float64) + 0.5) * (y1 - y0) / res
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    g = lp(torch.stack([gx.ravel(), gy.ravel()], 1))
    g = g[torch.isfinite(g)]  # p log p -> 0 where p = 0 (checkerboard's empty squares)
    neg_entropy = float((g.exp() * g).sum()) * (x1 - x0) * (y1 - y0) / res ** 2
    assert abs(float(a.mean()) - neg_entropy) < 4 * math.sqrt(float(a.var()) / a.numel()) + 1e-3


def test_other_shapes():
    moons = toy2d.sample("moons", 4000, gen(8)).double()
    # Moons: equal arcs; outer mean (-1, 4/π - 0.2), inner mean (1, 0.8 - 4/π), noise 0.2 per axis.
    se = moons.std(0) / math.sqrt(4000)
    assert abs(float(moons[:, 0].mean())) < 4 * float(se[0])
    assert abs(float(moons[:, 1].mean()) - 0.3) < 4 * float(se[1])
    upper = moons[:, 1] > 0.3
    assert float(moons[upper, 0].mean()) < -0.3 < 0.3 < float(moons[~upper, 0].mean())
    swiss = toy2d.sample("swissroll", 4000, gen(9)).double()
    r = torch.linalg.vector_norm(swiss, dim=1)
    # t in [1.5π, 4.5π], radius t / 5 before noise (noise std 0.2 per axis).
    assert 0.5 < float(r.quantile(0.01)) and float(r.quantile(0.99)) < 3.1
    pin = toy2d.sample("pinwheel", 4000, gen(10)).double()
    assert float(torch.linalg.vector_norm(pin, dim=1).mean()) == pytest.approx(2.0, abs=0.1)
    spirals = toy2d.sample("2spirals", 4000, gen(11)).double()
    # The two arms are mirror images: the cloud is symmetric about the origin.
    assert (spirals.mean(0).abs() < 0.1).all()
