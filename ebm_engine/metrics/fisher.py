"""Scores and the Fisher divergence: how far a model's score is from the data's.

The score of a density is ``∇x log p``; of an energy model, ``-∇x E`` (free of ``log Z``). The
Fisher divergence ``½ E_p ||∇log p - s||²`` is the quantity score matching minimises.
"""
from __future__ import annotations

from typing import Callable

import torch

from ebm_engine.energies.base import Energy


def log_density_score(log_prob: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``∇x log p(x)`` by autograd, detached."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(log_prob(x).sum(), x)
    return grad.detach()


def energy_score(energy: Energy, x: torch.Tensor) -> torch.Tensor:
    """The model's score ``-∇x E(x)``, detached (no graph through the weights is kept)."""
    return -energy.grad(x)


def fisher_divergence(energy: Energy, log_prob: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """``½ mean_i ||∇log p(x_i) + ∇E(x_i)||²`` over data points ``x_i ~ p``."""
    diff = log_density_score(log_prob, x) - energy_score(energy, x)
    return float(0.5 * (diff.reshape(len(x), -1) ** 2).sum(dim=1).mean())
