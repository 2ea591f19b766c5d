"""Constrained energies: hard walls, zero and huge weights, composition, and projected Langevin."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ebm_engine.energies.base import FunctionEnergy, ScaledEnergy, SumEnergy, TemperedEnergy
from ebm_engine.energies.constraints import Ball, Box, HalfPlane, NonNegative
from ebm_engine.energies.penalties import ConstrainedEnergy, penalty
from ebm_engine.energies.targets import Gaussian
from ebm_engine.samplers import Langevin
from tests.energies.test_constraints import CASES, INF, gen, randn, std_gaussian


# ----------------------------------------------------------------------------- hard, zero, huge weights

def test_hard_constraint_is_inf_exactly_where_violated_and_base_elsewhere():
    base = std_gaussian((1.0, 0.0))
    ball = Ball([0.0, 0.0], 1.5)
    energy = ConstrainedEnergy(base, [(ball, INF)])
    assert energy.has_hard
    x = randn(2000, 2, seed=7)
    e = energy(x)
    violated = ball.violation(x) > 0
    assert violated.any() and (~violated).any()
    assert not torch.isnan(e).any()
    assert torch.equal(torch.isposinf(e), violated)
    assert torch.equal(e[~violated], base(x)[~violated])
    # Projected points (on the sphere, up to rounding) have finite energy.
    assert torch.isfinite(energy(ball.project(x))).all()


def test_hard_constraint_gradient_does_not_raise():
    energy = ConstrainedEnergy(std_gaussian(), [(Ball([0.0, 0.0], 1.0), INF)])
    x = torch.tensor([[0.2, 0.1], [3.0, 0.0]], dtype=torch.float64)
    e, g = energy.energy_and_grad(x)
    assert torch.isfinite(e[0]) and torch.isposinf(e[1])
    assert torch.allclose(g[0], x[0])  # inside: the base gradient x, the wall adds nothing
    alone = penalty(Ball([0.0, 0.0], 1.0), INF)  # a penalty on its own still has a (zero) gradient
    e, g = alone.energy_and_grad(x)
    assert e[0] == 0.0 and torch.isposinf(e[1]) and torch.equal(g, torch.zeros_like(x))


def test_zero_weight_contributes_nothing():
    base = std_gaussian()
    x = randn(200, 2, seed=8, scale=5.0)
    for constraint, _, _ in CASES.values():
        energy = ConstrainedEnergy(base, [(constraint, 0.0)])
        e, g = energy.energy_and_grad(x)
        e0, g0 = base.energy_and_grad(x)
        assert torch.equal(e, e0) and torch.equal(g, g0)
        assert energy.violation_rate(x) == 0.0  # an inactive constraint is not counted
    e, g = penalty(Ball(0.0, 1.0), 0.0).energy_and_grad(x)
    assert torch.equal(e, torch.zeros(200, dtype=torch.float64)) and torch.equal(g, torch.zeros_like(x))


def test_huge_weight_stays_finite_where_satisfied():
    base = std_gaussian()
    x = randn(500, 2, seed=9, scale=1.0).float()
    x[-1] = torch.tensor([0.25, 0.75])  # on the simplex
    for constraint, _, _ in CASES.values():
        for power in (1, 2):
            energy = ConstrainedEnergy(base.float(), [(constraint, 1e12, power)])
            e, g = energy.energy_and_grad(x)
            ok = constraint.satisfied(x, tol=0.0)
            assert ok.any()
            assert torch.isfinite(e[ok]).all() and torch.isfinite(g[ok]).all()
            assert torch.equal(e[ok], base.float()(x)[ok])
            assert torch.isfinite(e).all()


def test_gradients_are_finite_at_zero_violation_and_match_the_analytic_ones():
    ball = Ball([1.0, 0.0], 0.0)
    pen = penalty(ball, 3.0)
    x = torch.tensor([[1.0, 0.0], [4.0, 4.0]], dtype=torch.float64)
    e, g = pen.energy_and_grad(x)
    assert torch.equal(e, torch.tensor([0.0, 15.0], dtype=torch.float64))
    assert torch.equal(g[0], torch.zeros(2, dtype=torch.float64))          # not NaN at the centre
    assert torch.allclose(g[1], 3.0 * torch.tensor([0.6, 0.8], dtype=torch.float64))
    inside = Box([-1.0, -1.0], [1.0, 1.0])
    _, g = penalty(inside, 2.0, power=2).energy_and_grad(torch.tensor([[0.0, 0.0], [3.0, 0.0]], dtype=torch.float64))
    assert torch.equal(g[0], torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(g[1], torch.tensor([8.0, 0.0], dtype=torch.float64))  # d/dx 2 (x - 1)^2 at 3


def test_squared_penalty_and_live_weight_changes():
    base = std_gaussian()
    ball = Ball([0.0, 0.0], 1.0)
    energy = ConstrainedEnergy(base, [(ball, 2.0, 2)])
    x = torch.tensor([[0.0, 0.5], [3.0, 0.0]], dtype=torch.float64)
    b = base(x)
    assert torch.allclose(energy(x) - b, torch.tensor([0.0, 8.0], dtype=torch.float64))
    energy.set_weight(0, 5.0)
    assert torch.allclose(energy(x) - b, torch.tensor([0.0, 20.0], dtype=torch.float64))
    energy.set_weight(0, INF)
    assert energy.has_hard and torch.isposinf(energy(x)[1]) and energy(x)[0] == b[0]
    energy.set_weight(0, 0.0)
    assert torch.equal(energy(x), b) and not energy.has_hard
    assert energy.weights == [0.0]
    for bad in (-1.0, float("nan"), "heavy"):
        with pytest.raises(ValueError):
            energy.set_weight(0, bad)
    with pytest.raises(IndexError):
        energy.set_weight(3, 1.0)


def test_violation_rate_counts_samples_violating_any_active_constraint():
    energy = ConstrainedEnergy(std_gaussian(), [(HalfPlane([1.0, 0.0], 0.0), 1.0), (HalfPlane([0.0, 1.0], 0.0), INF),
                                                (NonNegative(), 0.0)])
    x = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    assert energy.violation_rate(x) == 0.75
    energy.set_weight(0, 0.0)
    assert energy.violation_rate(x) == 0.5


# ----------------------------------------------------------------------------- composition

def test_constrained_energy_composes_with_sum_scaled_and_tempered_energies():
    g1, g2 = std_gaussian((1.0, 0.0)), std_gaussian((-1.0, 0.5))
    ball = Ball([0.0, 0.0], 1.0)
    x = randn(64, 2, seed=13)
    viol = ball.violation(x)
    for base in (g1 + g2, 0.5 * g1, g1.tempered(2.0), (g1 + 3.0 * g2).tempered(0.5)):
        energy = ConstrainedEnergy(base, [(ball, 3.0)])
        assert torch.allclose(energy(x), base(x) + 3.0 * viol)
        e, g = energy.energy_and_grad(x)
        assert torch.isfinite(g).all()
    hard = ConstrainedEnergy(g1 + g2, [(ball, INF)])
    assert isinstance(hard.base, SumEnergy)
    # And a constrained energy is an Energy like any other: it sums, scales and tempers.
    tempered = hard.tempered(2.0)
    assert isinstance(tempered, TemperedEnergy)
    outside = viol > 0
    t = tempered(x)
    assert torch.equal(torch.isposinf(t), outside)
    assert torch.allclose(t[~outside], (g1 + g2)(x)[~outside] / 2.0)
    assert isinstance(2.0 * hard, ScaledEnergy) and torch.equal(torch.isposinf((2.0 * hard)(x)), outside)
    summed = hard + penalty(NonNegative(), 1.5)
    assert torch.allclose(summed(x)[~outside], hard(x)[~outside] + 1.5 * NonNegative().violation(x)[~outside])


def test_base_plus_penalty_matches_constrained_energy():
    base = std_gaussian()
    x = randn(64, 2, seed=14)
    by_sum = base + penalty(Ball([0.5, 0.0], 1.0), 5.0) + penalty(HalfPlane([0.0, 1.0], 0.2), 2.0, power=2)
    by_class = ConstrainedEnergy(base, [(Ball([0.5, 0.0], 1.0), 5.0), (HalfPlane([0.0, 1.0], 0.2), 2.0, 2)])
    assert isinstance(by_sum, SumEnergy)
    assert torch.allclose(by_sum(x), by_class(x), rtol=1e-12, atol=1e-12)
    assert torch.allclose(by_sum.grad(x), by_class.grad(x), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- Langevin projection

def run_langevin(energy, x0: torch.Tensor, n_steps: int, step_size: float = 0.05, seed: int = 0):
    kernel, g = Langevin(), gen(seed)
    state = kernel.init(energy, x0)
    divergent = torch.zeros(len(x0), dtype=torch.bool)
    for _ in range(n_steps):
        state, info = kernel.step(energy, state, step_size, generator=g)
        divergent |= info.divergent
    return state, divergent


def test_langevin_never_leaves_a_hard_ball():
    target = Gaussian((1.5, 0.0), ((1.0, 0.3), (0.3, 1.0)))
    ball = Ball([0.0, 0.0], 1.0)
    energy = ConstrainedEnergy(target, [(ball, INF)])
    x0 = torch.zeros(2000, 2)
    x0[:500] = torch.tensor([3.0, 3.0])  # some chains even start outside: the first move projects them in
    state, divergent = run_langevin(energy, x0, 300)
    assert ball.violation(state.x).max() <= 1e-6
    assert energy.violation_rate(state.x) == 0.0
    assert not divergent.any() and torch.isfinite(state.energy).all()
    assert state.x[:, 0].mean() > 0.3  # the chains still feel the target, which pulls them to +x
    # Without the constraint, the same Langevin run leaves the ball most of the time.
    free, _ = run_langevin(target, x0, 300)
    assert (ball.violation(free.x) > 1e-6).float().mean() > 0.5


def test_langevin_with_soft_constraint_only_is_unchanged():
    target = Gaussian((1.5, 0.0), ((1.0, 0.3), (0.3, 1.0)))
    soft = ConstrainedEnergy(target, [(Ball([0.0, 0.0], 1.0), 0.0)])
    x0 = torch.zeros(200, 2)
    a, _ = run_langevin(soft, x0, 50)
    b, _ = run_langevin(target, x0, 50)
    assert torch.equal(a.x, b.x)


def test_langevin_ignores_a_submodule_named_project():
    class WithLayer(FunctionEnergy):
        def __init__(self):
            super().__init__(lambda x: 0.5 * (x ** 2).sum(dim=1))
            self.project = nn.Linear(2, 2)

    x0 = torch.ones(100, 2)
    a, _ = run_langevin(WithLayer(), x0, 20)
    b, _ = run_langevin(FunctionEnergy(lambda x: 0.5 * (x ** 2).sum(dim=1)), x0, 20)
    assert torch.equal(a.x, b.x)
