"""What every kernel shares: the chains' state, per-step information, the ``Kernel`` base, the
Metropolis accept-and-select step and per-chain helpers.

Chains are the batch dimension: every field is per chain. A kernel holds only its settings; the
chains live in a ``SamplerState`` that ``init`` builds and ``step`` replaces. Tunables (step size,
temperature) and the random stream are step arguments. Kernels take an ``Energy``; ``sample`` and
``as_energy`` adapt any ``nn.Module`` or callable.

A step is ``draw`` (the step's randomness, from the caller's generator) then ``transition`` (the
algorithm: a pure function of the state, the draws and the knobs, with no host sync and no Python
branch on tensor values). The eager ``step`` runs the two; the compiled path (``compiled``) traces
``transition`` for many steps at once from draws made ahead, so each algorithm is written once.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ebm_engine.energies.base import Energy


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


def check_positive(name: str, value: float) -> float:
    """Reject non-positive or non-finite tunables with a clear message."""
    value = float(value)
    if not (value > 0.0) or value == float("inf"):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def check_count(name: str, value: int, minimum: int) -> int:
    """Reject counts that are not ints (booleans included) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def axpy(y: torch.Tensor, a: float | torch.Tensor, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``y + a·x`` as one op, for a number ``a`` or a tensor ``a`` broadcast over ``x`` (``out=y``: in place)."""
    if isinstance(a, torch.Tensor):
        return torch.addcmul(y, a, x, out=out)
    return torch.add(y, x, alpha=a, out=out)


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


def rand_on(shape: int | tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Uniforms on [0, 1) of ``shape`` (an int: one per chain), on ``like``'s device and dtype."""
    device = generator.device if generator is not None else like.device
    u = torch.rand(shape if isinstance(shape, tuple) else (shape,), generator=generator, device=device,
                   dtype=like.dtype)
    return u if device == like.device else u.to(like.device)


class Kernel:
    """An MCMC kernel in the ``init`` / ``step`` shape; subclasses set ``name`` and implement ``step``."""

    name = "kernel"
    metropolis_adjusted = False   # True: each step is accepted or rejected, so its step size can be adapted

    def init(self, energy: Energy, x: torch.Tensor) -> SamplerState:
        """Chains at a detached copy of ``x`` with their energies and gradients."""
        e, g = energy.energy_and_grad(x)
        return SamplerState(x.detach().clone(), e, g)

    def draw(self, like: torch.Tensor, generator: torch.Generator | None,
             steps: tuple[int, ...] = ()) -> tuple[torch.Tensor, ...]:  # pragma: no cover
        """The fresh randomness of one step for chains shaped like ``like``, in the order the step uses
        it; ``steps=(K,)`` draws K steps' worth at once, stacked in front."""
        raise NotImplementedError

    def transition(self, energy: Energy, state: SamplerState, draws: tuple[torch.Tensor, ...],
                   step_size: float | torch.Tensor,
                   temperature: float | torch.Tensor) -> tuple[SamplerState, StepInfo]:  # pragma: no cover
        """One step of every chain from its ``draws``; the knobs are numbers or 0-d tensors."""
        raise NotImplementedError

    def grad_evals_per_step(self) -> int:
        """Gradient evaluations per chain in one step."""
        return 1

    def settings(self) -> tuple:
        """The kernel's settings as a hashable key: kernels with equal keys make the same transition."""
        plain = (bool, int, float, str, tuple, type(None))
        return (type(self).__name__, *sorted((k, v) for k, v in vars(self).items() if isinstance(v, plain)))

    def step(self, energy: Energy, state: SamplerState, step_size: float, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[SamplerState, StepInfo]:
        """One transition of every chain, with its fresh randomness drawn from ``generator``."""
        step_size = check_positive("step_size", step_size)
        temperature = check_positive("temperature", temperature)
        return self.transition(energy, state, self.draw(state.x, generator), step_size, temperature)


def metropolis_select(state: SamplerState, x_new: torch.Tensor, e_new: torch.Tensor, g_new: torch.Tensor,
                      log_alpha: torch.Tensor, valid: torch.Tensor, u: torch.Tensor | None = None,
                      generator: torch.Generator | None = None
                      ) -> tuple[SamplerState, torch.Tensor, torch.Tensor]:
    """``(new state, accepted, accept_prob)`` per chain, for every Metropolis-adjusted kernel.

    Each chain accepts its proposal with probability ``min(1, exp(log α))``, decided by its own
    uniform: ``log u < log α``. A chain whose proposal is not ``valid`` (not finite, or a NaN
    ``log α``) rejects with ``accept_prob`` 0. Accepted chains move to the proposal with its energy
    and gradient; the others keep theirs. ``u`` are the chains' uniforms; without them one per chain
    is drawn from ``generator``. With them the step draws nothing and never syncs with the host, so
    it can be captured in a graph.
    """
    accept_prob = torch.where(valid, torch.exp(log_alpha.clamp(max=0.0)), torch.zeros_like(log_alpha))
    if u is None:
        u = rand_on(log_alpha.shape[0], state.x, generator)
    accepted = valid & (torch.log(u) < log_alpha)
    return select_chains(accepted, SamplerState(x_new, e_new, g_new), state), accepted, accept_prob
