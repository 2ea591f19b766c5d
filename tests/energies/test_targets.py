"""Analytic 2D targets: exact normalisation, exact samplers, validation."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from ebm_engine.energies.base import Energy
from ebm_engine.energies.targets import (
    TARGETS,
    Banana,
    Donut,
    Funnel,
    Gaussian,
    GaussianMixture,
    Squiggle,
)
from ebm_engine.metrics.partition import log_partition_grid

NAMES = list(TARGETS)
SAMPLEABLE = ["gaussian", "mixture", "banana", "donut", "funnel", "squiggle"]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def widened(bounds, factor: float = 0.25):
    return tuple((lo - factor * (hi - lo), hi + factor * (hi - lo)) for lo, hi in bounds)


def test_registry_names_and_types():
    assert set(TARGETS) == {"gaussian", "mixture", "banana", "donut", "funnel", "squiggle"}
    for make in TARGETS.values():
        target = make()
        assert isinstance(target, Energy)
        (x0, x1), (y0, y1) = target.bounds
        assert x0 < x1 and y0 < y1


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_energy_is_minus_log_prob(name):
    target = TARGETS[name]()
    x = torch.randn(7, 2, generator=gen(1)) * 2
    lp, e = target.log_prob(x), target(x)
    assert lp.shape == (7,) and e.shape == (7,)
    assert torch.isfinite(lp).all()
    torch.testing.assert_close(e, -lp)
    energy, grad = target.energy_and_grad(x)
    assert grad.shape == (7, 2) and torch.isfinite(grad).all()
    with pytest.raises(ValueError):
        target.log_prob(torch.zeros(3, 3))
    with pytest.raises(ValueError):
        target.log_prob(torch.zeros(4))


# Grid quadrature: a midpoint rule for these smooth densities converges far faster than h^2
# (spectrally for Gaussian-like profiles) and the boxes are 25% wider than ``bounds`` (which
# already leave < 1e-4 of the mass outside), so the total must be 1 to ~1e-5. 2e-4 leaves room
# for float32 grids and is still 50x tighter than the error of a missing 1/(2π) or σ factor.
@pytest.mark.parametrize("name", [n for n in NAMES if n != "funnel"])
def test_integrates_to_one_on_grid(name):
    target = TARGETS[name]()
    assert abs(log_partition_grid(target, widened(target.bounds), resolution=400)) < 2e-4
    # ``bounds`` itself holds essentially all the mass.
    assert abs(log_partition_grid(target, target.bounds, resolution=400)) < 1e-4


def test_funnel_integrates_to_one_on_grid():
    # The default funnel's neck is narrower than any uniform grid cell; a narrow funnel is grid-friendly:
    # |v| < 6 sigma_v and |x| < 5.5 std at the widest, cells <= 0.56 std at the neck.
    s = 0.5
    half_x = 5.5 * math.exp(3 * s)
    assert abs(log_partition_grid(Funnel(s), ((-6 * s, 6 * s), (-half_x, half_x)), resolution=400)) < 2e-4


def _trapezoid_mass(target, box, n: int = 601) -> float:
    """Independent check: numpy trapezoid rule on exp(log_prob) in float64."""
    (x0, x1), (y0, y1) = box
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
    p = np.exp(target.double().log_prob(pts).numpy()).reshape(n, n)
    return float(np.trapezoid(np.trapezoid(p, xs, axis=1), ys))


@pytest.mark.parametrize("name", [n for n in NAMES if n != "funnel"])
def test_integrates_to_one_trapezoid(name):
    target = TARGETS[name]()
    assert _trapezoid_mass(target, widened(target.bounds, 0.3)) == pytest.approx(1.0, abs=2e-4)


def test_default_funnel_integrates_to_one_per_slice():
    # Independent of any uniform grid: for each v, integrate over x on a grid scaled to exp(v/2).
    funnel = Funnel().double()
    vs = np.linspace(-6 * funnel.sigma_v, 6 * funnel.sigma_v, 801)
    inner = []
    for v in vs:
        half = 8 * math.exp(v / 2)
        xs = np.linspace(-half, half, 401)
        pts = torch.from_numpy(np.stack([np.full_like(xs, v), xs], axis=1))
        inner.append(np.trapezoid(np.exp(funnel.log_prob(pts).numpy()), xs))
    assert float(np.trapezoid(inner, vs)) == pytest.approx(1.0, abs=1e-5)
    # The plotting box holds most, but not all, of the funnel.
    assert 0.95 < math.exp(log_partition_grid(funnel, funnel.bounds, 400)) < 1.0


def test_donut_normaliser_matches_radial_integral():
    for radius, sigma in [(2.5, 0.4), (0.3, 1.0), (0.0, 0.7)]:
        donut = Donut(radius, sigma)
        r = np.linspace(0, radius + 12 * sigma, 20001)
        z = 2 * math.pi * np.trapezoid(r * np.exp(-(r - radius) ** 2 / (2 * sigma ** 2)), r)
        assert donut.log_norm == pytest.approx(math.log(z), abs=1e-7)


def test_known_log_probs():
    g = Gaussian((1.0, -1.0), ((2.0, 0.3), (0.3, 0.5)))
    x = torch.tensor([[0.5, 0.2], [1.0, -1.0]], dtype=torch.float64)
    from scipy.stats import multivariate_normal
    ref = multivariate_normal([1.0, -1.0], [[2.0, 0.3], [0.3, 0.5]]).logpdf(x.numpy())
    # Parameters are stored in the default dtype (float32), hence float32-level agreement.
    np.testing.assert_allclose(g.double().log_prob(x).numpy(), ref, rtol=1e-6)
    from scipy.stats import norm
    f = Funnel(3.0).double()
    pts = np.array([[1.0, 0.5], [-2.0, 0.1]])
    ref = norm(0, 3).logpdf(pts[:, 0]) + norm(0, np.exp(pts[:, 0] / 2)).logpdf(pts[:, 1])
    np.testing.assert_allclose(f.log_prob(torch.from_numpy(pts)).numpy(), ref, rtol=1e-10)


def _assert_moments(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, k: float = 4.0) -> None:
    """Sample mean and covariance within k standard errors of the analytic values."""
    x = x.double()
    n = x.shape[0]
    se_mean = torch.sqrt(torch.diagonal(cov) / n)
    assert (torch.abs(x.mean(0) - mean) < k * se_mean).all(), (x.mean(0), mean)
    c = x - mean
    prods = c[:, :, None] * c[:, None, :]  # (n, d, d): its mean estimates cov
    se_cov = prods.std(0) / math.sqrt(n)
    assert (torch.abs(prods.mean(0) - cov) < k * se_cov).all(), (prods.mean(0), cov)


def test_gaussian_sample_moments():
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    cov = torch.tensor([[2.0, -0.7], [-0.7, 0.5]], dtype=torch.float64)
    x = Gaussian(mean, cov).sample(40000, gen(0))
    assert x.shape == (40000, 2) and x.dtype == torch.float32
    _assert_moments(x, mean, cov)


def test_mixture_sample_moments_and_weights():
    means = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -3.0]], dtype=torch.float64)
    stds = torch.tensor([0.5, 1.0, 0.3], dtype=torch.float64)
    w = torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64)  # normalised to (0.5, 0.25, 0.25)
    mix = GaussianMixture(means, stds, w)
    torch.testing.assert_close(mix.weights.double(), w / w.sum())
    p = w / w.sum()
    mean = (p[:, None] * means).sum(0)
    second = (p[:, None, None] * (stds[:, None, None] ** 2 * torch.eye(2, dtype=torch.float64)
                                 + means[:, :, None] * means[:, None, :])).sum(0)
    cov = second - mean[:, None] * mean[None, :]
    x = mix.sample(40000, gen(1))
    _assert_moments(x, mean, cov)


def test_exact_samplers_match_their_densities():
    # For an exact sampler, E_p[log p] over samples equals the negative entropy computed by quadrature.
    for target in [Banana(), Donut(), Squiggle(), Funnel(0.5), GaussianMixture()]:
        x = target.sample(20000, gen(2))
        lp = target.log_prob(x).double()
        box = widened(target.bounds) if not isinstance(target, Funnel) else ((-3.0, 3.0), (-25.0, 25.0))
        (x0, x1), (y0, y1) = box
        res = 400
        xs = torch.linspace(x0, x1, res + 1, dtype=torch.float64)[:-1] + (x1 - x0) / (2 * res)
        ys = torch.linspace(y0, y1, res + 1, dtype=torch.float64)[:-1] + (y1 - y0) / (2 * res)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid_lp = copy.deepcopy(target).double().log_prob(torch.stack([gx.ravel(), gy.ravel()], 1))
        neg_entropy = float((grid_lp.exp() * grid_lp).sum()) * (x1 - x0) * (y1 - y0) / res ** 2
        se = float(lp.std()) / math.sqrt(lp.numel())
        assert abs(float(lp.mean()) - neg_entropy) < 4 * se + 1e-3, type(target).__name__


def test_sampler_specific_moments():
    b = Banana(s1=1.0, b=0.5, s2=0.5).sample(40000, gen(3)).double()
    _assert_moments(b, torch.zeros(2, dtype=torch.float64),
                    torch.diag(torch.tensor([1.0, 0.25 + 2 * 0.25], dtype=torch.float64)))
    sq = Squiggle(s=1.2, omega=2.0, tau=0.3, amplitude=1.5).sample(40000, gen(4)).double()
    # For x1 ~ N(0, s^2): E[sin^2(w x1)] = (1 - exp(-2 w^2 s^2)) / 2, E[x1 sin(w x1)] = w s^2 exp(-w^2 s^2 / 2).
    var_x2 = 0.09 + 1.5 ** 2 * (1 - math.exp(-2 * 4.0 * 1.44)) / 2
    cov_12 = 1.5 * 2.0 * 1.44 * math.exp(-4.0 * 1.44 / 2)
    _assert_moments(sq, torch.zeros(2, dtype=torch.float64),
                    torch.tensor([[1.44, cov_12], [cov_12, var_x2]], dtype=torch.float64))
    f = Funnel(1.0).sample(40000, gen(5)).double()
    # x | v ~ N(0, e^v): E[x^2] = E[e^v] = exp(sigma_v^2 / 2).
    _assert_moments(f, torch.zeros(2, dtype=torch.float64), torch.diag(torch.tensor([1.0, math.exp(0.5)], dtype=torch.float64)))


def test_donut_sample_radius_distribution():
    donut = Donut(1.0, 0.8)  # r0 comparable to sigma: the r <= 0 truncation matters
    x = donut.sample(40000, gen(6)).double()
    r = torch.linalg.vector_norm(x, dim=1)
    grid = np.linspace(0, 1.0 + 12 * 0.8, 40001)
    dens = grid * np.exp(-(grid - 1.0) ** 2 / (2 * 0.64))
    dens /= np.trapezoid(dens, grid)
    mean_r = np.trapezoid(grid * dens, grid)
    sd_r = math.sqrt(np.trapezoid(grid ** 2 * dens, grid) - mean_r ** 2)
    assert abs(float(r.mean()) - mean_r) < 4 * sd_r / math.sqrt(r.numel())
    # Uniform angle: mean of the unit vector is 0.
    unit = x / r[:, None]
    assert (unit.mean(0).abs() < 4 * math.sqrt(0.5 / r.numel())).all()


@pytest.mark.parametrize("name", SAMPLEABLE)
def test_sampling_is_reproducible_with_generator(name):
    target = TARGETS[name]()
    a, b, c = target.sample(50, gen(7)), target.sample(50, gen(7)), target.sample(50, gen(8))
    assert a.shape == (50, 2) and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)
    with pytest.raises(ValueError):
        target.sample(0, gen(7))


def test_double_precision_follows_module():
    g = Gaussian().double()
    x = g.sample(10, gen(0))
    assert x.dtype == torch.float64 and g.log_prob(x).dtype == torch.float64


@pytest.mark.parametrize("make", [
    lambda: Gaussian((0.0, 0.0), ((1.0, 2.0), (2.0, 1.0))),  # indefinite
    lambda: Gaussian((0.0, 0.0), ((1.0, 0.5), (0.4, 1.0))),  # not symmetric
    lambda: Gaussian((0.0, 0.0, 0.0), ((1.0, 0.0), (0.0, 1.0))),  # shape mismatch
    lambda: Gaussian((0.0, float("nan")), ((1.0, 0.0), (0.0, 1.0))),
    lambda: GaussianMixture(((0.0, 0.0), (1.0, 1.0)), (1.0, 0.0)),  # zero std
    lambda: GaussianMixture(((0.0, 0.0), (1.0, 1.0)), 1.0, (1.0, -0.5)),  # negative weight
    lambda: GaussianMixture(((0.0, 0.0), (1.0, 1.0)), 1.0, (0.0, 0.0)),  # zero total weight
    lambda: GaussianMixture(((0.0, 0.0), (1.0, 1.0)), (1.0, 1.0, 1.0)),  # too many stds
    lambda: GaussianMixture((0.0, 0.0), 1.0),  # means not 2-D
    lambda: Banana(s1=0.0),
    lambda: Banana(s2=-1.0),
    lambda: Banana(b=float("inf")),
    lambda: Donut(radius=-1.0),
    lambda: Donut(sigma=0.0),
    lambda: Funnel(sigma_v=-2.0),
    lambda: Squiggle(tau=0.0),
    lambda: Squiggle(s=float("nan")),
])
def test_bad_parameters_raise(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_closed_form_energy_and_gradient_equal_autograd(name):
    target = TARGETS[name]().double()
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2.0
    x[0] = 0.0                                    # the origin too (the donut's kink)
    e, g = target.energy_and_grad(x)
    e_ref, g_ref = Energy.energy_and_grad(target, x)       # autograd of -log_prob
    assert not e.requires_grad and not g.requires_grad and g.shape == x.shape
    assert torch.allclose(e, e_ref, atol=1e-12, rtol=1e-12)
    assert torch.allclose(g, g_ref, atol=1e-10, rtol=1e-10)
    assert torch.allclose(e, target(x), atol=1e-12)
