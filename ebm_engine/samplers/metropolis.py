"""The Metropolis accept-and-select step shared by every Metropolis-adjusted kernel.

Each chain (batch row) accepts its proposal with probability ``min(1, exp(log α))``, decided by
its own uniform: ``log u < log α``. A chain whose proposal is not ``valid`` (not finite, or a NaN
``log α``) rejects with ``accept_prob`` 0. Accepted chains move to the proposal with its energy and
gradient; the others keep theirs.
"""
from __future__ import annotations

import torch

from ebm_engine.samplers.state import SamplerState, rand_on, select_chains


def metropolis_select(state: SamplerState, x_new: torch.Tensor, e_new: torch.Tensor, g_new: torch.Tensor,
                      log_alpha: torch.Tensor, valid: torch.Tensor, u: torch.Tensor | None = None,
                      generator: torch.Generator | None = None
                      ) -> tuple[SamplerState, torch.Tensor, torch.Tensor]:
    """``(new state, accepted, accept_prob)`` per chain.

    ``u`` are the chains' uniforms; without them one per chain is drawn from ``generator``. With
    them the step draws nothing and never syncs with the host, so it can be captured in a graph.
    """
    accept_prob = torch.where(valid, torch.exp(log_alpha.clamp(max=0.0)), torch.zeros_like(log_alpha))
    if u is None:
        u = rand_on(log_alpha.shape[0], state.x, generator)
    accepted = valid & (torch.log(u) < log_alpha)
    return select_chains(accepted, SamplerState(x_new, e_new, g_new), state), accepted, accept_prob
