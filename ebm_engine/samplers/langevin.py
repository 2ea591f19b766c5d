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
from ebm_engine.samplers.state import (Kernel, SamplerState, SettledChains, StepInfo, all_finite, check_positive,
                                       randn_on, select_chains)


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

    def step(self, energy: Energy, state: SamplerState, step_size: float, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[SamplerState, StepInfo]:
        step_size = check_positive("step_size", step_size)
        temperature = check_positive("temperature", temperature)
        noise_std = math.sqrt(2.0 * step_size) if self.noise_scale is None else self.noise_scale
        noise = randn_on(state.x.shape, state.x, generator)
        x_new = torch.add(state.x, state.grad, alpha=-step_size / temperature).add_(noise, alpha=noise_std)
        if self.clamp is not None:
            x_new = x_new.clamp(*self.clamp)
        project = energy.hard_projection()
        if project is not None:
            x_new = project(x_new)
        e_new, g_new = energy.energy_and_grad(x_new)
        # One reduction for the common case: a NaN or inf anywhere makes the total non-finite (a
        # finite overflow only sends the step to the exact per-chain check below).
        if math.isfinite(float(torch.add(x_new, g_new).sum() + e_new.sum())):   # one host read, no isfinite op
            accepted, accept_prob, divergent = self._settled.get(x_new)
            return SamplerState(x_new, e_new, g_new), StepInfo(accepted, accept_prob, divergent, e_new,
                                                               all_accepted=True)
        finite = torch.isfinite(e_new) & all_finite(x_new) & all_finite(g_new)
        new_state = select_chains(finite, SamplerState(x_new, e_new, g_new), state)
        info = StepInfo(accepted=finite, accept_prob=finite.to(state.x.dtype), divergent=~finite,
                        energy=new_state.energy)
        return new_state, info
