"""Hard-constraint projections: ``Energy.hard_projection`` is the one way a kernel asks for them, and
the bf16 wrapper keeps them (projected Langevin stays projected, with no divergence, under autocast)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebm_engine.energies.base import Energy
from ebm_engine.energies.constraints import Ball
from ebm_engine.energies.penalties import ConstrainedEnergy
from ebm_engine.energies.targets import Gaussian
from ebm_engine.samplers import Langevin
from ebm_engine.samplers.compiled import CompiledKernel
from ebm_engine.samplers.mixed_precision import AutocastEnergy, energy_in_precision

BALL = Ball((0.0, 0.0), 1.0)


class LinearQuadratic(Energy):
    """``½|Ax|²`` through an ``nn.Linear``: a layer that autocast really runs in bf16."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[0.8, 0.2], [0.0, 0.6]]))

    def energy(self, x):
        return 0.5 * self.linear(x).pow(2).sum(dim=1)


def walled(weight: float = math.inf) -> ConstrainedEnergy:
    return ConstrainedEnergy(LinearQuadratic(), [(BALL, weight)])


def test_only_an_energy_with_a_hard_constraint_has_a_projection():
    assert Gaussian().hard_projection() is None
    assert walled(0.0).hard_projection() is None and walled(5.0).hard_projection() is None
    x = torch.tensor([[3.0, 4.0], [0.1, 0.2]])
    energy = walled()
    for projecting in (energy, AutocastEnergy(energy)):
        project = projecting.hard_projection()
        assert torch.allclose(project(x), torch.tensor([[0.6, 0.8], [0.1, 0.2]]))
    energy.set_weight(0, 1.0)   # softened live: the wrapper follows its base
    assert AutocastEnergy(energy).hard_projection() is None


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_langevin_inside_a_ball_projects_without_divergences_in_either_precision(precision):
    """1,000 chains × 50 steps large enough to reach the wall at every step: each proposal outside
    is projected back, so no chain is ever infeasible and none is flagged divergent."""
    energy = energy_in_precision(walled(), precision)
    g = torch.Generator().manual_seed(0)
    kernel = Langevin()
    state = kernel.init(energy, 0.5 * (torch.rand(1000, 2, generator=g) - 0.5))
    divergent = moved = 0
    for _ in range(50):
        before = state.x
        state, info = kernel.step(energy, state, 0.2, 1.0, g)
        divergent += int(info.divergent.sum())
        moved += int((state.x != before).any(dim=1).sum())
        assert BALL.satisfied(state.x).all()
    assert divergent == 0 and moved == 50 * 1000
    on_wall = (state.x.norm(dim=1) > 1.0 - 1e-4).float().mean()
    assert on_wall > 0.3   # the wall was really pressed against: about half the chains end on it


def test_the_one_step_program_projects_onto_hard_walls_as_the_eager_step_does():
    """The program runs Langevin's own ``transition``, so the projection comes with it, under bf16 too."""
    for energy in (walled(), AutocastEnergy(walled())):
        eager, program = Langevin(), CompiledKernel(Langevin(), background=False, backend="eager")
        x = torch.zeros(200, 2)
        a, b = eager.init(energy, x), program.init(energy, x)
        ga, gb = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        for _ in range(20):
            a, _ = eager.step(energy, a, 0.2, 1.0, ga)
            b, info = program.step(energy, b, 0.2, 1.0, gb)
            assert BALL.satisfied(b.x).all() and not bool(info.divergent.any())
        assert program.status == "compiled"
        torch.testing.assert_close(b.x, a.x)
