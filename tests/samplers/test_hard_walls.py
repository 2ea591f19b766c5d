"""Hard constraints with Metropolis kernels: walls reject proposals without counting as divergences."""
import torch

from ebm_engine.energies.constraints import Ball, Box
from ebm_engine.energies.penalties import ConstrainedEnergy
from ebm_engine.energies.targets import Gaussian
from ebm_engine.samplers import HMC, MALA


def walled_gaussian(constraint):
    return ConstrainedEnergy(Gaussian((0.0, 0.0), ((1.0, 0.0), (0.0, 1.0))), [(constraint, float("inf"))])


def test_mala_and_hmc_never_leave_a_ball_and_report_no_divergence():
    energy = walled_gaussian(Ball((0.0, 0.0), 1.0))
    for kernel in (MALA(), HMC(n_leapfrog=8)):
        g = torch.Generator().manual_seed(0)
        x = 0.5 * torch.rand(500, 2, generator=g)
        state = kernel.init(energy, x)
        divergent = 0
        rejected = 0
        for _ in range(60):
            state, info = kernel.step(energy, state, 0.5, generator=g)
            divergent += int(info.divergent.sum())
            rejected += int((~info.accepted).sum())
        assert state.x.norm(dim=1).max() <= 1.0 + 1e-5
        assert divergent == 0 and rejected > 0


def test_hmc_rejects_trajectories_that_jump_over_a_wall():
    # a slab |x1| < 0.5 that chains must stay out of; leapfrog moves of ~0.1 cannot hop over it,
    # but long trajectories (30 steps) would pass through it if only the end point were checked
    wall = Box((-0.5, -10.0), (0.5, 10.0), mode="outside")
    energy = walled_gaussian(wall)
    g = torch.Generator().manual_seed(1)
    x = torch.full((400, 2), -1.0)
    kernel = HMC(n_leapfrog=30, jitter=0.0)
    state = kernel.init(energy, x)
    for _ in range(40):
        state, _ = kernel.step(energy, state, 0.1, generator=g)
    assert (state.x[:, 0] < 0).all(), "a trajectory crossed the wall"
