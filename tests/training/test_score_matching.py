"""Score-matching objectives: each recovers the score of a Gaussian; the exact one matches finite differences."""
import math

import pytest
import torch
from torch import nn

from ebm_engine.energies.base import Energy
from ebm_engine.models.simple_ebm import SimpleEBM
from ebm_engine.training.score_matching import (denoising_score_matching_loss, exact_score_matching_loss,
                                                sliced_score_matching_loss)

MEAN = torch.tensor([1.0, -0.5, 0.3], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.6, 0.0], [0.6, 1.5, -0.3], [0.0, -0.3, 0.5]], dtype=torch.float64)


class Quadratic(Energy):
    """``½ (x - m)ᵀ P (x - m)`` with ``P = L Lᵀ``: the family that holds every Gaussian's energy."""

    def __init__(self, dim: int):
        super().__init__()
        self.m = nn.Parameter(torch.zeros(dim, dtype=torch.float64))
        self.l = nn.Parameter(torch.eye(dim, dtype=torch.float64))

    @property
    def precision(self) -> torch.Tensor:
        lower = torch.tril(self.l)
        return lower @ lower.T

    def energy(self, x):
        d = x.reshape(x.shape[0], -1) - self.m
        return 0.5 * ((d @ self.precision) * d).sum(dim=1)


def gaussian_data(n: int, seed: int, shape=None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 3, generator=g, dtype=torch.float64)
    x = MEAN + z @ torch.linalg.cholesky(COV).T
    return x if shape is None else x.reshape(n, *shape)


def fit(loss_fn, dim: int = 3) -> Quadratic:
    """Minimise ``loss_fn(model, generator)`` by L-BFGS; the generator is reseeded at every evaluation,
    so the noise and projections are fixed draws and the objective is deterministic."""
    model = Quadratic(dim)
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=300, tolerance_grad=1e-10,
                            tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = loss_fn(model, torch.Generator().manual_seed(1))
        loss.backward()
        return loss

    opt.step(closure)
    return model


def score_error(model: Quadratic, true_precision: torch.Tensor, true_mean: torch.Tensor) -> float:
    """Relative mean squared score error on fresh Gaussian points: E||s - s*||² / E||s*||²."""
    x = gaussian_data(4000, seed=99)
    learned = -(x - model.m.detach()) @ model.precision.detach()
    true = -(x - true_mean) @ true_precision
    return float(((learned - true) ** 2).sum(1).mean() / (true ** 2).sum(1).mean())


def test_denoising_recovers_the_score_of_the_noisy_gaussian():
    sigma = 0.5
    data = gaussian_data(20000, seed=0)
    model = fit(lambda m, g: denoising_score_matching_loss(m, data, sigma, g))
    noisy_precision = torch.linalg.inv(COV + sigma ** 2 * torch.eye(3, dtype=torch.float64))
    assert score_error(model, noisy_precision, MEAN) < 0.01
    # and it is the noisy score, not the clean one: the two differ by far more than the tolerance
    assert score_error(model, torch.linalg.inv(COV), MEAN) > 0.05


@pytest.mark.parametrize("projection, variance_reduced", [("rademacher", True), ("gaussian", False)])
def test_sliced_recovers_the_score_of_a_gaussian(projection, variance_reduced):
    data = gaussian_data(20000, seed=2)
    model = fit(lambda m, g: sliced_score_matching_loss(m, data, 2, projection, variance_reduced, g))
    assert score_error(model, torch.linalg.inv(COV), MEAN) < 0.01


def test_sliced_works_for_any_event_shape():
    """Points stored as (n, 1, 3) images: projections take the event's shape, the answer is the same."""
    data = gaussian_data(20000, seed=4, shape=(1, 3))
    model = fit(lambda m, g: sliced_score_matching_loss(m, data, 1, generator=g))
    assert score_error(model, torch.linalg.inv(COV), MEAN) < 0.01


def test_exact_recovers_the_score_of_a_gaussian():
    data = gaussian_data(20000, seed=6)
    model = fit(lambda m, g: exact_score_matching_loss(m, data))
    assert score_error(model, torch.linalg.inv(COV), MEAN) < 0.005


def finite_difference_objective(energy, x: torch.Tensor, h: float = 1e-4) -> torch.Tensor:
    """½||∇E||² - ΔE per sample by central differences of the energy alone."""
    with torch.no_grad():
        e0 = energy(x)
        grad_sq = torch.zeros_like(e0)
        laplacian = torch.zeros_like(e0)
        for i in range(x.shape[1]):
            step = torch.zeros_like(x)
            step[:, i] = h
            plus, minus = energy(x + step), energy(x - step)
            grad_sq += ((plus - minus) / (2 * h)) ** 2
            laplacian += (plus - 2 * e0 + minus) / h ** 2
    return 0.5 * grad_sq - laplacian


def test_exact_objective_matches_finite_differences():
    torch.manual_seed(0)
    energy = SimpleEBM(3, hidden=32, depth=2, activation="silu").double()
    x = torch.randn(50, 3, dtype=torch.float64)
    exact = exact_score_matching_loss(energy, x, reduction="none").detach()
    reference = finite_difference_objective(energy, x)
    assert torch.allclose(exact, reference, rtol=1e-4, atol=1e-5)
    # the Laplacian term matters: dropping it would be far off
    assert not torch.allclose(exact, reference + 0.1 * reference.abs().mean(), rtol=1e-4, atol=1e-5)


def test_sliced_is_unbiased_for_the_exact_objective():
    """Averaged over many Rademacher projections, sliced SM (without variance reduction) equals Hyvärinen's."""
    torch.manual_seed(1)
    energy = SimpleEBM(3, hidden=32, depth=2).double()
    x = torch.randn(200, 3, dtype=torch.float64)
    exact = float(exact_score_matching_loss(energy, x).detach())
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sliced_score_matching_loss(energy, x, 1, "gaussian", False, g).detach()
                         for _ in range(400)])
    se = float(draws.std() / math.sqrt(len(draws)))
    assert abs(float(draws.mean()) - exact) < 4 * se


def test_losses_reach_the_parameters_and_reject_bad_input():
    energy = SimpleEBM(2, hidden=16, depth=1)
    x = torch.randn(64, 2)
    for loss in (denoising_score_matching_loss(energy, x, 0.1), sliced_score_matching_loss(energy, x),
                 exact_score_matching_loss(energy, x)):
        energy.zero_grad()
        loss.backward()
        # every weight gets a gradient (the output bias cannot: it does not change ∇x E)
        weights = [p for name, p in energy.named_parameters() if name.endswith("weight")]
        assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)
    with pytest.raises(ValueError):
        denoising_score_matching_loss(energy, x, 0.0)
    with pytest.raises(ValueError):
        sliced_score_matching_loss(energy, x, projection="uniform")
    with pytest.raises(ValueError, match="exact score matching"):
        exact_score_matching_loss(SimpleEBM(100, 4, 1), torch.randn(2, 100))
