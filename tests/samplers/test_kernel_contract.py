"""What every kernel promises whatever its update: a step leaves no autograd graph behind, even
for an input that requires gradients and an energy with trainable weights."""
from __future__ import annotations

import pytest
import torch

from ebm_engine.models.simple_ebm import SimpleEBM
from ebm_engine.samplers import HMC, MALA, Langevin
from tests.samplers.gaussian_target import gen


@pytest.mark.parametrize("kernel", [Langevin(), MALA(), HMC(n_leapfrog=3)], ids=["langevin", "mala", "hmc"])
def test_no_autograd_graph_survives_a_step(kernel):
    torch.manual_seed(0)  # the network's initial weights only; sampling uses explicit generators
    energy = SimpleEBM(input_dim=2, hidden=16)
    x0 = torch.randn(8, 2, generator=gen(9)).requires_grad_(True)
    state = kernel.init(energy, x0)
    state, info = kernel.step(energy, state, 0.05, 1.0, gen(10))
    for t in (state.x, state.energy, state.grad, info.accept_prob, info.energy):
        assert not t.requires_grad and t.grad_fn is None
    assert all(p.grad is None for p in energy.parameters())
