"""The Energy base class: shape contract, detached gradients, composition."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebm_engine.energies.base import Energy, FunctionEnergy, ScaledEnergy, SumEnergy, TemperedEnergy
from ebm_engine.energies.targets import Gaussian

MEAN = torch.tensor([0.5, -1.0])
COV = torch.tensor([[1.0, 0.6], [0.6, 2.0]])
PRECISION = torch.linalg.inv(COV)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def points(n: int = 16, seed: int = 0) -> torch.Tensor:
    return 2.0 * torch.randn(n, 2, generator=gen(seed))


def quadratic(x: torch.Tensor) -> torch.Tensor:
    """0.5 (x - m)' P (x - m): gradient P (x - m)."""
    d = x - MEAN
    return 0.5 * ((d @ PRECISION) * d).sum(dim=1)


class Linear(Energy):
    """E(x) = a · x + c: a learnable energy with parameters, for graph checks."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([1.0, -2.0]))
        self.c = nn.Parameter(torch.tensor(0.5))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.a + self.c


# --- the shape contract ---------------------------------------------------------------------------

def test_forward_returns_one_energy_per_sample():
    x = points(7)
    e = Gaussian(MEAN, COV)(x)
    assert e.shape == (7,)
    # An (n, 1) column, as an nn.Linear head produces, is accepted and squeezed.
    col = FunctionEnergy(lambda x: quadratic(x)[:, None])(x)
    assert col.shape == (7,)
    torch.testing.assert_close(col, quadratic(x))


@pytest.mark.parametrize("bad", [
    lambda x: quadratic(x).sum(),                        # a scalar
    lambda x: x,                                         # (n, 2): not one energy per sample
    lambda x: quadratic(x)[:-1],                         # wrong batch size
    lambda x: quadratic(x)[:, None].expand(-1, 3),       # (n, 3)
    lambda x: quadratic(x)[None, :],                     # (1, n)
])
def test_forward_rejects_wrong_shapes(bad):
    with pytest.raises(ValueError, match="expected"):
        FunctionEnergy(bad)(points(5))


# --- energy_and_grad ------------------------------------------------------------------------------

def test_energy_and_grad_matches_analytic_quadratic():
    x = points(32, seed=1)
    e, g = FunctionEnergy(quadratic).energy_and_grad(x)
    torch.testing.assert_close(e, quadratic(x))
    torch.testing.assert_close(g, (x - MEAN) @ PRECISION)  # P symmetric
    # Same for the analytic target: E = -log N(x; m, C), ∇E = C^{-1}(x - m).
    target = Gaussian(MEAN, COV)
    e_t, g_t = target.energy_and_grad(x)
    torch.testing.assert_close(g_t, (x - MEAN) @ PRECISION, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(target.grad(x), g_t)
    log_norm = math.log(2 * math.pi) + 0.5 * math.log(float(torch.linalg.det(COV)))
    torch.testing.assert_close(e_t, quadratic(x) + log_norm, rtol=1e-5, atol=1e-5)


def test_energy_and_grad_keeps_no_graph_and_leaves_input_alone():
    model = Linear()
    x = points(8, seed=2)
    x_before = x.clone()
    e, g = model.energy_and_grad(x)
    assert not e.requires_grad and not g.requires_grad
    assert e.grad_fn is None and g.grad_fn is None
    assert not x.requires_grad and x.grad is None
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    torch.testing.assert_close(g, model.a.detach().expand(8, 2))
    # Only the input gradient is computed: the parameters receive nothing.
    assert model.a.grad is None and model.c.grad is None


def test_energy_and_grad_works_under_no_grad_and_on_a_leaf_that_requires_grad():
    model = Linear()
    x = points(4, seed=3).requires_grad_(True)
    with torch.no_grad():
        e, g = model.energy_and_grad(x)
    assert g.shape == (4, 2) and not e.requires_grad
    assert x.grad is None  # the caller's leaf is not touched


# --- composition ----------------------------------------------------------------------------------

def test_sum_of_energies():
    e1, e2 = Gaussian(MEAN, COV), FunctionEnergy(lambda x: (x ** 2).sum(1))
    total = e1 + e2
    assert isinstance(total, SumEnergy)
    x = points(9, seed=4)
    torch.testing.assert_close(total(x), e1(x) + e2(x))
    torch.testing.assert_close(total.grad(x), e1.grad(x) + 2 * x)


def test_nested_sums_flatten():
    a, b, c, d = (FunctionEnergy(lambda x, k=k: k * x[:, 0]) for k in (1.0, 2.0, 3.0, 4.0))
    left = (a + b) + c
    right = a + (b + c)
    both = (a + b) + (c + d)
    assert [t for t in left.terms] == [a, b, c]
    assert [t for t in right.terms] == [a, b, c]
    assert [t for t in both.terms] == [a, b, c, d]
    x = points(3, seed=5)
    torch.testing.assert_close(both(x), 10.0 * x[:, 0])


def test_scaling_from_either_side():
    base = Gaussian(MEAN, COV)
    x = points(6, seed=6)
    for scaled in (3.0 * base, base * 3.0, 3 * base):
        assert isinstance(scaled, ScaledEnergy)
        torch.testing.assert_close(scaled(x), 3.0 * base(x))
        torch.testing.assert_close(scaled.grad(x), 3.0 * base.grad(x))
    # A zero or negative weight is a valid (if odd) energy.
    torch.testing.assert_close((0.0 * base)(x), torch.zeros(6))
    torch.testing.assert_close((-1.0 * base)(x), -base(x))


def test_weighted_sum_is_a_product_of_experts():
    e1, e2 = FunctionEnergy(quadratic), FunctionEnergy(lambda x: x[:, 1] ** 2)
    combo = 0.5 * e1 + e2 * 2.0
    x = points(5, seed=7)
    torch.testing.assert_close(combo(x), 0.5 * quadratic(x) + 2.0 * x[:, 1] ** 2)


@pytest.mark.parametrize("weight", [math.nan, math.inf, -math.inf])
def test_non_finite_weight_raises(weight):
    with pytest.raises(ValueError):
        weight * Gaussian()
    with pytest.raises(ValueError):
        Gaussian() * weight


def test_energy_times_energy_is_not_defined():
    with pytest.raises(TypeError):
        Gaussian() * Gaussian()
    with pytest.raises(TypeError):
        Gaussian() + 1.0


@pytest.mark.parametrize("t", [0.5, 1.0, 3.0])
def test_tempered_divides_by_temperature(t):
    base = Gaussian(MEAN, COV)
    cold = base.tempered(t)
    assert isinstance(cold, TemperedEnergy) and cold.temperature == t
    x = points(10, seed=8)
    torch.testing.assert_close(cold(x), base(x) / t)
    torch.testing.assert_close(cold.grad(x), base.grad(x) / t)


@pytest.mark.parametrize("t", [0.0, -1.0, math.nan, math.inf])
def test_invalid_temperature_raises(t):
    with pytest.raises(ValueError):
        Gaussian().tempered(t)


def test_composites_register_their_parts_as_submodules():
    model = Linear()
    combo = 2.0 * model + Gaussian().tempered(2.0)
    names = {n for n, _ in combo.named_parameters()}
    assert len(names) == 2  # model.a and model.c are reachable, so optimisers and .to() see them
    combo.double()
    assert combo(points(3).double()).dtype == torch.float64


# --- FunctionEnergy -------------------------------------------------------------------------------

def test_function_energy_wraps_a_callable():
    f = FunctionEnergy(quadratic, name="quad")
    assert f.name == "quad" and isinstance(f, Energy)
    x = points(11, seed=9)
    torch.testing.assert_close(f(x), quadratic(x))
    # Wrapped functions compose like any energy.
    torch.testing.assert_close((f + f).grad(x), 2 * (x - MEAN) @ PRECISION)
