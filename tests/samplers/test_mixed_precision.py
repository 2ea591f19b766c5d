"""bf16 energies under autocast: gradients and accept/reject arithmetic stay float32."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebm_engine.energies.base import Energy
from ebm_engine.energies.constraints import HalfPlane
from ebm_engine.energies.penalties import ConstrainedEnergy
from ebm_engine.models import SimpleEBM
from ebm_engine.samplers import HMC, MALA, Langevin
from ebm_engine.samplers.mixed_precision import AutocastEnergy, autocast_for, energy_in_precision


class LinearQuadratic(Energy):
    """``½|Ax|²`` through an ``nn.Linear`` (a layer autocast runs in bf16)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[1.0, 0.3], [0.0, 0.7]]))

    def energy(self, x):
        return 0.5 * self.linear(x).pow(2).sum(dim=1)


class RawBF16(Energy):
    """The same energy under autocast without casting back: what the wrapper must not hand out."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def energy(self, x):
        with autocast_for(x.device, "bf16"):
            return self.base.linear(x).pow(2).sum(dim=1) * 0.5


def test_energy_runs_in_bf16_but_comes_back_float32():
    base = LinearQuadratic()
    wrapped = AutocastEnergy(base)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 3
    e32, g32 = base.energy_and_grad(x)
    e16, g16 = wrapped.energy_and_grad(x)
    assert e16.dtype == torch.float32 and g16.dtype == torch.float32
    assert not torch.equal(e16, e32)                               # bf16 really was used...
    torch.testing.assert_close(e16, e32, rtol=2e-2, atol=2e-2)     # ...at bf16's precision
    torch.testing.assert_close(g16, g32, rtol=3e-2, atol=3e-2)
    assert energy_in_precision(base, "fp32") is base
    with pytest.raises(ValueError, match="precision"):
        energy_in_precision(base, "fp16")


@pytest.mark.parametrize("kernel", [MALA(), HMC(n_leapfrog=3)], ids=["mala", "hmc"])
def test_accept_reject_arithmetic_is_float32_under_autocast(kernel):
    base = LinearQuadratic()
    g = torch.Generator().manual_seed(1)
    state = kernel.init(AutocastEnergy(base), torch.randn(256, 2, generator=g))
    state, info = kernel.step(AutocastEnergy(base), state, 0.1, 1.0, g)
    assert state.energy.dtype == torch.float32 and info.accept_prob.dtype == torch.float32
    assert 0.5 < float(info.accept_prob.mean()) <= 1.0

    # what the checks above guard against: a bf16 energy handed straight to a kernel leaves its
    # energy difference E(x') - E(x) in bf16 (8 bits of mantissa)
    raw = RawBF16(base)
    raw_state, _ = kernel.step(raw, kernel.init(raw, torch.randn(8, 2, generator=g)), 0.1, 1.0, g)
    assert raw_state.energy.dtype == torch.bfloat16


def test_wrapper_keeps_hard_constraint_projection_for_langevin():
    half_plane = HalfPlane([1.0, 0.0], 0.0)                     # feasible: x <= 0
    wrapped = AutocastEnergy(ConstrainedEnergy(SimpleEBM(2, 16, 1), [(half_plane, math.inf)]))
    g = torch.Generator().manual_seed(0)
    kernel = Langevin()
    state = kernel.init(wrapped, -torch.rand(256, 2, generator=g) * 0.1)
    for _ in range(5):
        state, _ = kernel.step(wrapped, state, 0.5, 1.0, g)
    assert state.x.dtype == torch.float32
    assert float(half_plane.violation(state.x).max()) == 0.0     # projected: no chain left the half-plane
