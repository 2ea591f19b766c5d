"""Sampler state and per-step information shared by every kernel.

Chains are the batch dimension: every field is per chain.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SamplerState:
    """Positions of the chains with their cached energy and energy gradient (all detached)."""

    x: torch.Tensor
    energy: torch.Tensor
    grad: torch.Tensor


@dataclass
class StepInfo:
    """What one kernel step did, per chain."""

    accepted: torch.Tensor      # bool (n_chains,)
    accept_prob: torch.Tensor   # float (n_chains,), 1 for unadjusted kernels
    divergent: torch.Tensor     # bool (n_chains,): non-finite or exploding proposal
    energy: torch.Tensor        # (n_chains,) energy at the new positions
    n_grad_evals: int = 1       # gradient evaluations per chain this step


def per_chain_norm(t: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of each chain's event, whatever the event shape."""
    return t.reshape(t.shape[0], -1).norm(dim=1)


def check_positive(name: str, value: float) -> float:
    """Reject non-positive or non-finite tunables with a clear message."""
    value = float(value)
    if not (value > 0.0) or value == float("inf"):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def per_chain_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over every non-batch dimension: ``(n_chains, *event) -> (n_chains,)``."""
    return t.reshape(t.shape[0], -1).sum(dim=1)


def all_finite(t: torch.Tensor) -> torch.Tensor:
    """Per chain: are all entries of the event finite? ``(n_chains,)`` bool."""
    return torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1)


def randn_on(shape: torch.Size, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normals drawn on the generator's device, returned on ``like``'s device and dtype."""
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def rand_on(n: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` uniforms on [0, 1), one per chain, on ``like``'s device and dtype."""
    device = generator.device if generator is not None else like.device
    return torch.rand((n,), generator=generator, device=device, dtype=like.dtype).to(like.device)
