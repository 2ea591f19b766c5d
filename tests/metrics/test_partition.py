"""Partition functions: grid quadrature against closed forms, importance sampling against the grid."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebm_engine.energies.base import Energy, FunctionEnergy
from ebm_engine.energies.targets import Banana, Gaussian, GaussianMixture
from ebm_engine.metrics import (
    energy_on_grid,
    grid_nll,
    log_density_grid,
    log_partition_grid,
    log_partition_importance,
    log_partition_mc,
)

P = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
LOG_Z_P = math.log(2 * math.pi) - 0.5 * math.log(float(torch.linalg.det(P)))  # ∫ exp(-x'Px/2) dx
BOX = ((-8.0, 8.0), (-8.0, 8.0))


class Quadratic(Energy):
    """Unnormalised ``0.5 x' P x`` in float64."""

    def __init__(self, precision: torch.Tensor = P):
        super().__init__()
        self.register_buffer("precision", precision.clone())

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.einsum("ni,ij,nj->n", x, self.precision, x)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shifted_mixture(shift: float = 3.0) -> Energy:
    """A normalised mixture's energy plus a constant: log Z = -shift exactly."""
    return GaussianMixture() + FunctionEnergy(lambda x: torch.full_like(x[:, 0], shift))


def test_energy_on_grid_layout_and_batching():
    xs, ys, e = energy_on_grid(FunctionEnergy(lambda x: x[:, 0] + 10 * x[:, 1]), ((0.0, 4.0), (-1.0, 1.0)), 4)
    torch.testing.assert_close(xs, torch.tensor([0.5, 1.5, 2.5, 3.5]))
    torch.testing.assert_close(ys, torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    assert e.shape == (4, 4)
    torch.testing.assert_close(e, xs[None, :] + 10 * ys[:, None])  # E[i, j] at (xs[j], ys[i])
    _, _, small_batches = energy_on_grid(FunctionEnergy(lambda x: x[:, 0] + 10 * x[:, 1]), ((0.0, 4.0), (-1.0, 1.0)),
                                         4, batch_size=3)
    torch.testing.assert_close(small_batches, e)


class CommonNoiseEnergy(Energy):
    """A stochastic energy whose noise is drawn once per call and shared by every point of it."""

    one_batch = True

    def __init__(self):
        super().__init__()
        self.generator = torch.Generator().manual_seed(0)

    def energy(self, x):
        return x[:, 0] + torch.randn((), generator=self.generator)


def test_a_common_noise_energy_is_evaluated_in_one_call():
    _, _, e = energy_on_grid(CommonNoiseEnergy(), ((0.0, 4.0), (-1.0, 1.0)), 8, batch_size=5)
    offsets = e - torch.linspace(0.25, 3.75, 8)[None, :]
    torch.testing.assert_close(offsets, torch.full_like(e, float(offsets[0, 0])))   # one draw: no seams


def four_fold(x):
    """Invariant under the quarter turn, not under reflections (the last term changes sign)."""
    u, v = x[:, 0], x[:, 1]
    return u ** 4 + v ** 4 + u * v * (u ** 2 - v ** 2)


@pytest.mark.parametrize("bounds, resolution, evaluated", [(((-2.0, 2.0), (-2.0, 2.0)), 8, 16),
                                                           (((-2.0, 2.0), (-2.0, 2.0)), 7, 49),
                                                           (((-2.0, 2.0), (-1.0, 3.0)), 8, 64)])
def test_a_quarter_turn_invariant_energy_is_evaluated_on_one_quadrant(bounds, resolution, evaluated):
    calls = []

    def counted(x):
        calls.append(len(x))
        return four_fold(x)

    _, _, full = energy_on_grid(FunctionEnergy(four_fold), bounds, resolution)
    _, _, quick = energy_on_grid(FunctionEnergy(counted), bounds, resolution, quarter_turn=True)
    torch.testing.assert_close(quick, full)
    assert sum(calls) == evaluated   # a quarter of the points on a centred square with an even resolution


def test_energy_on_grid_follows_module_dtype_and_takes_plain_callables():
    _, _, e = energy_on_grid(Quadratic(), BOX, 8)
    assert e.dtype == torch.float64  # the buffer's dtype
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))  # (n, 1) output is accepted
    _, _, e = energy_on_grid(net, BOX, 5)
    assert e.shape == (5, 5) and e.dtype == torch.float32 and not e.requires_grad
    _, _, e = energy_on_grid(lambda x: (x ** 2).sum(1), BOX, 6)
    assert e.shape == (6, 6)
    with pytest.raises(ValueError):
        energy_on_grid(lambda x: x, BOX, 6)  # (n, 2) is not an energy


def test_grid_log_partition_of_quadratic():
    assert log_partition_grid(Quadratic(), BOX, resolution=200) == pytest.approx(LOG_Z_P, abs=1e-3)
    # The float32 path (a plain callable) is as accurate at this tolerance.
    assert log_partition_grid(lambda x: 0.5 * torch.einsum("ni,ij,nj->n", x, P.float(), x), BOX) == \
        pytest.approx(LOG_Z_P, abs=1e-3)


def test_grid_temperature_scaling():
    # ∫ exp(-x'Px / (2T)) dx = 2π T / sqrt(det P) in 2D: log Z grows by (d/2) log T = log T.
    for t in (0.5, 2.0):
        assert log_partition_grid(Quadratic(), BOX, 200, temperature=t) == pytest.approx(LOG_Z_P + math.log(t), abs=1e-3)


def test_log_density_grid_is_normalised():
    xs, ys, log_p, log_z = log_density_grid(Quadratic(), BOX, 100, temperature=1.5)
    assert log_p.shape == (100, 100) and xs.shape == ys.shape == (100,)
    assert log_z == pytest.approx(LOG_Z_P + math.log(1.5), abs=1e-3)
    cell = (16 / 100) ** 2
    assert float(log_p.exp().sum()) * cell == pytest.approx(1.0, abs=1e-9)
    assert int(log_p.argmax()) in {49 * 100 + 49, 49 * 100 + 50, 50 * 100 + 49, 50 * 100 + 50}


def test_importance_sampling_agrees_with_grid():
    energy = shifted_mixture(3.0)
    grid = log_partition_grid(energy, GaussianMixture().bounds, 400)
    assert grid == pytest.approx(-3.0, abs=1e-4)
    log_z, se = log_partition_mc(energy, ((-5.0, 5.0), (-5.0, 5.0)), 20000, generator=gen(0))
    assert 0 < se < 0.05
    assert abs(log_z - grid) < 4 * se
    # Temperature: the same machinery at T = 2 against the grid at T = 2.
    grid_t = log_partition_grid(energy, ((-12.0, 12.0), (-12.0, 12.0)), 400, temperature=2.0)
    log_z_t, se_t = log_partition_mc(energy, ((-6.0, 6.0), (-6.0, 6.0)), 20000, temperature=2.0, generator=gen(1))
    assert abs(log_z_t - grid_t) < 4 * se_t


def test_importance_stderr_shrinks_like_one_over_sqrt_n():
    energy = Banana()
    _, se_small = log_partition_mc(energy, ((-5.0, 5.0), (-4.0, 10.0)), 2000, generator=gen(2))
    _, se_big = log_partition_mc(energy, ((-5.0, 5.0), (-4.0, 10.0)), 32000, generator=gen(3))
    assert se_big < se_small / 2  # ideal ratio 4


def test_importance_with_exact_proposal_is_exact():
    # q = p / Z: every weight equals Z, so the estimate is exact and its stderr is 0.
    # Without the -log q term this would be log mean(p), far from log Z.
    target = Gaussian((0.5, -1.0), ((1.0, 0.3), (0.3, 0.7)))
    energy = target + FunctionEnergy(lambda x: torch.full_like(x[:, 0], -1.25))  # log Z = 1.25
    log_z, se = log_partition_importance(energy, target.sample, target.log_prob, 1000, generator=gen(4))
    assert log_z == pytest.approx(1.25, abs=1e-5)
    assert se < 1e-5


def test_uniform_proposal_estimates_the_box_integral():
    energy = Quadratic()
    box = ((-1.0, 1.0), (-1.0, 1.0))  # cuts the Gaussian: box integral < full integral
    grid = log_partition_grid(energy, box, 200)
    assert grid < LOG_Z_P - 0.5
    log_z, se = log_partition_mc(energy, box, 20000, generator=gen(5), proposal="uniform")
    assert abs(log_z - grid) < 4 * se


def test_importance_is_reproducible():
    a = log_partition_mc(Banana(), ((-5.0, 5.0), (-4.0, 10.0)), 500, generator=gen(6))
    b = log_partition_mc(Banana(), ((-5.0, 5.0), (-4.0, 10.0)), 500, generator=gen(6))
    assert a == b


def test_grid_nll_is_entropy_for_own_samples():
    mean, cov = torch.tensor([0.3, -0.2]), torch.tensor([[1.2, -0.4], [-0.4, 0.8]])
    target = Gaussian(mean, cov)
    entropy = 1 + math.log(2 * math.pi) + 0.5 * math.log(float(torch.linalg.det(cov)))  # (d/2)(1 + log 2π) + ½ log det
    x = target.sample(20000, gen(7))
    nll = grid_nll(target, x, target.bounds, 200)
    se = float(target.log_prob(x).double().std()) / math.sqrt(x.shape[0])
    assert abs(nll - entropy) < 4 * se + 1e-3
    # Invariant to the energy's offset: an unnormalised version gives the same NLL.
    shifted = target + FunctionEnergy(lambda z: torch.full_like(z[:, 0], 7.0))
    assert grid_nll(shifted, x, target.bounds, 200) == pytest.approx(nll, abs=1e-4)
    # At T = 2 the model is broader: NLL = mean(E)/2 + log Z_T.
    nll_t = grid_nll(Quadratic(), x.double(), BOX, 200, temperature=2.0)
    expected = float(Quadratic()(x.double()).mean()) / 2 + LOG_Z_P + math.log(2.0)
    assert nll_t == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("call", [
    lambda: log_partition_grid(Quadratic(), BOX, temperature=0.0),
    lambda: log_partition_grid(Quadratic(), BOX, temperature=-1.0),
    lambda: log_partition_grid(Quadratic(), BOX, temperature=float("nan")),
    lambda: log_partition_grid(Quadratic(), BOX, resolution=1),
    lambda: log_partition_grid(Quadratic(), BOX, resolution=2.5),
    lambda: log_partition_grid(Quadratic(), ((1.0, 0.0), (0.0, 1.0))),
    lambda: log_partition_grid(Quadratic(), ((0.0, 1.0),)),
    lambda: log_partition_grid(Quadratic(), ((0.0, float("inf")), (0.0, 1.0))),
    lambda: log_partition_grid(Quadratic(), "box"),
    lambda: energy_on_grid(Quadratic(), BOX, 10, batch_size=0),
    lambda: log_density_grid(Quadratic(), BOX, 10, temperature=0.0),
    lambda: grid_nll(Quadratic(), torch.zeros(5, 3), BOX),
    lambda: log_partition_mc(Quadratic(), BOX, 1),
    lambda: log_partition_mc(Quadratic(), BOX, 100, proposal="cauchy"),
    lambda: log_partition_mc(Quadratic(), BOX, 100, temperature=0.0),
])
def test_validation_errors(call):
    with pytest.raises(ValueError):
        call()


def test_nan_energies_are_reported_not_masked():
    def half_nan(x: torch.Tensor) -> torch.Tensor:
        e = (x ** 2).sum(1)
        return torch.where(x[:, 0] > 0, torch.full_like(e, float("nan")), e)

    with pytest.raises(FloatingPointError, match="NaN"):
        log_partition_grid(half_nan, BOX, 10)
    with pytest.raises(FloatingPointError, match="NaN"):
        log_partition_mc(half_nan, BOX, 100, generator=gen(0))
    with pytest.raises(FloatingPointError, match="NaN"):
        grid_nll(half_nan, torch.ones(3, 2), BOX, 10)
