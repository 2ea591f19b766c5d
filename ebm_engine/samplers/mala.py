"""Metropolis-adjusted Langevin (MALA) for ``p(x) ∝ exp(-E(x)/T)``.

Proposal: ``x' = x - ε ∇E(x)/T + sqrt(2ε) ξ`` with ``ξ ~ N(0, I)``, i.e.
``q(x' | x) = N(x'; x - ε ∇E(x)/T, 2ε I)``. The proposal is not symmetric, so the
Metropolis-Hastings log-ratio carries both proposal densities:

    log α = -(E(x') - E(x)) / T + log q(x | x') - log q(x' | x)

A chain whose proposal, energy or gradient is not finite rejects (``accept_prob`` 0), stays where
it was and is flagged ``divergent``, except at a hard constraint's wall (``E = +inf`` at a finite
position): an ordinary rejection.
"""
from __future__ import annotations

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.samplers.state import (Kernel, SamplerState, StepInfo, all_finite, metropolis_select, per_chain_sum,
                                       rand_on, randn_on)


class MALA(Kernel):
    """Metropolis-adjusted Langevin kernel in the ``init`` / ``step`` shape (one gradient per step)."""

    name = "mala"
    metropolis_adjusted = True

    def log_proposal(self, x_to: torch.Tensor, x_from: torch.Tensor, grad_from: torch.Tensor,
                     step_size: float | torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
        """``log q(x_to | x_from)`` per chain, up to a constant that cancels in the ratio."""
        diff = x_to - x_from + (step_size / temperature) * grad_from
        return -per_chain_sum(diff * diff) / (4.0 * step_size)

    def draw(self, like: torch.Tensor, generator: torch.Generator | None,
             steps: tuple[int, ...] = ()) -> tuple[torch.Tensor, ...]:
        """The proposal's noise, then the accept uniforms."""
        return randn_on((*steps, *like.shape), like, generator), rand_on((*steps, like.shape[0]), like, generator)

    def transition(self, energy: Energy, state: SamplerState, draws: tuple[torch.Tensor, ...],
                   step_size: float | torch.Tensor,
                   temperature: float | torch.Tensor) -> tuple[SamplerState, StepInfo]:
        noise, u = draws
        x = state.x
        x_new = x - (step_size / temperature) * state.grad + (2.0 * step_size) ** 0.5 * noise
        e_new, g_new = energy.energy_and_grad(x_new)

        log_alpha = (-(e_new - state.energy) / temperature
                     + self.log_proposal(x, x_new, g_new, step_size, temperature)
                     - self.log_proposal(x_new, x, state.grad, step_size, temperature))
        finite = torch.isfinite(e_new) & all_finite(x_new) & all_finite(g_new)
        valid = finite & ~torch.isnan(log_alpha)
        new_state, accepted, accept_prob = metropolis_select(state, x_new, e_new, g_new, log_alpha, valid, u)
        wall = torch.isposinf(e_new) & all_finite(x_new)   # a hard constraint: an ordinary rejection
        info = StepInfo(accepted=accepted, accept_prob=accept_prob, divergent=~valid & ~wall,
                        energy=new_state.energy, n_grad_evals=1)
        return new_state, info
