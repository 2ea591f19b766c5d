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
    all_accepted: bool = False  # True: every chain accepted and none diverged (lets callers skip counting)


class SettledChains:
    """Read-only per-chain constants for a step where every chain moved and none diverged:
    ``accepted`` all true, ``accept_prob`` all one, ``divergent`` all false (made once per shape)."""

    def __init__(self) -> None:
        self._key: tuple | None = None

    def get(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        key = (like.shape[0], like.device, like.dtype)
        if key != self._key:
            n = like.shape[0]
            self._values = (torch.ones(n, dtype=torch.bool, device=like.device),
                            torch.ones(n, dtype=like.dtype, device=like.device),
                            torch.zeros(n, dtype=torch.bool, device=like.device))
            self._key = key
        return self._values


def select_chains(mask: torch.Tensor, new: SamplerState, old: SamplerState) -> SamplerState:
    """Per chain: the ``new`` position, energy and gradient where ``mask`` holds, the ``old`` ones elsewhere."""
    keep = mask.view(-1, *([1] * (new.x.dim() - 1)))
    return SamplerState(torch.where(keep, new.x, old.x), torch.where(mask, new.energy, old.energy),
                        torch.where(keep, new.grad, old.grad))


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
    z = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return z if device == like.device else z.to(like.device)


def rand_on(n: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` uniforms on [0, 1), one per chain, on ``like``'s device and dtype."""
    device = generator.device if generator is not None else like.device
    u = torch.rand((n,), generator=generator, device=device, dtype=like.dtype)
    return u if device == like.device else u.to(like.device)
