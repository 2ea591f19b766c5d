"""The base of every kernel: the ``init`` they share and the ``step`` signature they implement.

A kernel holds only its settings; the chains live in a ``SamplerState`` that ``init`` builds and
``step`` replaces. Tunables (step size, temperature) and the random stream are step arguments.
Kernels take an ``Energy``; ``sample`` and ``as_energy`` adapt any ``nn.Module`` or callable.
"""
from __future__ import annotations

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.samplers.state import SamplerState, StepInfo


class Kernel:
    """An MCMC kernel in the ``init`` / ``step`` shape; subclasses set ``name`` and implement ``step``."""

    name = "kernel"
    metropolis_adjusted = False   # True: each step is accepted or rejected, so its step size can be adapted

    def init(self, energy: Energy, x: torch.Tensor) -> SamplerState:
        """Chains at a detached copy of ``x`` with their energies and gradients."""
        e, g = energy.energy_and_grad(x)
        return SamplerState(x.detach().clone(), e, g)

    def step(self, energy: Energy, state: SamplerState, step_size: float, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[SamplerState, StepInfo]:  # pragma: no cover
        """One transition of every chain, with its fresh randomness drawn from ``generator``."""
        raise NotImplementedError
