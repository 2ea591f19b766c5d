"""Unadjusted Langevin dynamics for ``p(x) ∝ exp(-E(x)/T)``.

Update: ``x' = x - ε ∇E(x)/T + sqrt(2ε) ξ`` with ``ξ ~ N(0, I)``. The short-run "generator"
mode of image EBMs replaces ``sqrt(2ε)`` by a separate ``noise_scale`` and clamps positions
to a data range; it is a heuristic, not an exact sampler, and is off by default.

Hard constraints: if the energy has a hard projection (``Energy.hard_projection``; a
``ConstrainedEnergy`` with a hard constraint does, directly or under ``AutocastEnergy``), every
proposal is projected back onto the feasible set (projected Langevin), so chains never leave it.
"""
from __future__ import annotations

import math

import param
import torch

from ebm_engine.config import Config, Interval
from ebm_engine.energies.base import Energy
from ebm_engine.samplers.state import (Kernel, SamplerState, SettledChains, StepInfo, all_finite, axpy,
                                       check_positive, randn_on, select_chains)


class LangevinConfig(Config):
    """The settings of a ``Langevin`` kernel, checked by their declarations."""

    noise_scale = param.Number(None, bounds=(0, None), doc="None: the exact sqrt(2·step_size)")
    clamp = Interval(None, allow_None=True)


class Langevin(Kernel):
    """Unadjusted Langevin kernel in the ``init`` / ``step`` shape (``noise_scale``, ``clamp``: see the module
    docstring). Chains whose new position, energy or gradient is not finite are flagged ``divergent``
    and kept at their previous position."""

    name = "langevin"

    def __init__(self, noise_scale: float | None = None, clamp: tuple[float, float] | None = None):
        config = LangevinConfig(noise_scale=noise_scale, clamp=clamp)
        self.noise_scale = config.noise_scale
        self.clamp = config.clamp
        self._settled = SettledChains()

    def draw(self, like: torch.Tensor, generator: torch.Generator | None,
             steps: tuple[int, ...] = ()) -> tuple[torch.Tensor, ...]:
        """The step's noise."""
        return (randn_on((*steps, *like.shape), like, generator),)

    def propose(self, energy: Energy, state: SamplerState, noise: torch.Tensor, step_size: float | torch.Tensor,
                temperature: float | torch.Tensor) -> torch.Tensor:
        """The moved positions: drift, noise, then the clamp and the hard constraints' projection."""
        noise_std = (2.0 * step_size) ** 0.5 if self.noise_scale is None else self.noise_scale
        x_new = axpy(axpy(state.x, -step_size / temperature, state.grad), noise_std, noise)
        if self.clamp is not None:
            x_new = x_new.clamp(*self.clamp)
        project = energy.hard_projection()
        return x_new if project is None else project(x_new)

    def transition(self, energy: Energy, state: SamplerState, draws: tuple[torch.Tensor, ...],
                   step_size: float | torch.Tensor,
                   temperature: float | torch.Tensor) -> tuple[SamplerState, StepInfo]:
        x_new = self.propose(energy, state, draws[0], step_size, temperature)
        return self._keep_finite(state, x_new, *energy.energy_and_grad(x_new))

    def step(self, energy: Energy, state: SamplerState, step_size: float, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[SamplerState, StepInfo]:
        """``transition``, with one host read that skips the per-chain checks when every chain stayed finite."""
        step_size = check_positive("step_size", step_size)
        temperature = check_positive("temperature", temperature)
        x_new = self.propose(energy, state, self.draw(state.x, generator)[0], step_size, temperature)
        e_new, g_new = energy.energy_and_grad(x_new)
        # One reduction for the common case: a NaN or inf anywhere makes the total non-finite (a
        # finite overflow only sends the step to the exact per-chain check).
        if math.isfinite(float(torch.add(x_new, g_new).sum() + e_new.sum())):   # one host read, no isfinite op
            accepted, accept_prob, divergent = self._settled.get(x_new)
            return SamplerState(x_new, e_new, g_new), StepInfo(accepted, accept_prob, divergent, e_new,
                                                               all_accepted=True)
        return self._keep_finite(state, x_new, e_new, g_new)

    @staticmethod
    def _keep_finite(state: SamplerState, x_new: torch.Tensor, e_new: torch.Tensor,
                     g_new: torch.Tensor) -> tuple[SamplerState, StepInfo]:
        """Move every chain whose position, energy and gradient are finite; the others stay (divergent)."""
        finite = torch.isfinite(e_new) & all_finite(x_new) & all_finite(g_new)
        new_state = select_chains(finite, SamplerState(x_new, e_new, g_new), state)
        return new_state, StepInfo(accepted=finite, accept_prob=finite.to(state.x.dtype), divergent=~finite,
                                   energy=new_state.energy)
