"""Hamiltonian Monte Carlo with a fixed number of leapfrog steps for ``p(x) ∝ exp(-E(x)/T)``.

Each step draws a fresh momentum ``p ~ N(0, I)``, integrates the Hamiltonian
``H(x, p) = E(x)/T + |p|²/2`` with ``n_leapfrog`` leapfrog steps of size ``ε`` and accepts the
end point with probability ``min(1, exp(H_old - H_new))``, separately for every chain.

Gradients come from ``Energy.energy_and_grad`` (detached), so no autograd graph lives through the
trajectory; the starting energy and gradient are reused from the state: ``n_leapfrog`` per step.

With a fixed trajectory length, HMC on (near-)Gaussian targets resonates: at some step sizes a
trajectory returns close to its start, and the acceptance is a bumpy, non-monotone function of
``ε``, which also derails step-size adaptation. ``jitter`` (default 0.1) draws each chain's step
size uniformly from ``ε·[1 - jitter, 1 + jitter]`` at every step (Neal 2011, §5.4.2.2); the
random choice is independent of the state, so every chain still leaves the target invariant.
``jitter=0`` gives the plain fixed-step kernel.

A chain whose end point, energy or gradient is not finite rejects (``accept_prob`` 0) and stays.
It is flagged ``divergent``, as is a chain whose energy error ``H_new - H_old`` exceeds
``divergence_threshold`` (a trajectory that blew up even if it stayed finite).
"""
from __future__ import annotations

import param
import torch

from ebm_engine.config import POSITIVE, Config
from ebm_engine.energies.base import Energy
from ebm_engine.samplers.state import (Kernel, SamplerState, StepInfo, all_finite, check_positive, metropolis_select,
                                       per_chain_sum, rand_on, randn_on)


def axpy(y: torch.Tensor, a: float | torch.Tensor, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``y + a·x`` as one op, for a number ``a`` or a tensor ``a`` broadcast over ``x`` (``out=y``: in place)."""
    if isinstance(a, torch.Tensor):
        return torch.addcmul(y, a, x, out=out)
    return torch.add(y, x, alpha=a, out=out)


class HMCConfig(Config):
    """The settings of an ``HMC`` kernel, checked by their declarations."""

    n_leapfrog = param.Integer(10, bounds=(1, None))
    divergence_threshold = param.Number(1000.0, **POSITIVE)
    jitter = param.Number(0.1, bounds=(0, 1), inclusive_bounds=(True, False))


class HMC(Kernel):
    """Static-trajectory HMC kernel in the ``init`` / ``step`` shape, identity mass matrix."""

    name = "hmc"
    metropolis_adjusted = True

    def __init__(self, n_leapfrog: int = 10, divergence_threshold: float = 1000.0, jitter: float = 0.1):
        config = HMCConfig(n_leapfrog=n_leapfrog, divergence_threshold=divergence_threshold, jitter=jitter)
        self.n_leapfrog = config.n_leapfrog
        self.divergence_threshold = float(config.divergence_threshold)
        self.jitter = float(config.jitter)

    def chain_step_sizes(self, step_size: float, like: torch.Tensor,
                         generator: torch.Generator | None) -> float | torch.Tensor:
        """The step size (``jitter=0``) or one jittered step size per chain, shaped to broadcast over events."""
        if self.jitter == 0.0:
            return step_size
        u = rand_on(like.shape[0], like, generator)
        eps = step_size * (1.0 + self.jitter * (2.0 * u - 1.0))
        return eps.view(-1, *([1] * (like.dim() - 1)))

    def leapfrog(self, energy: Energy, state: SamplerState, p: torch.Tensor, step_size: float | torch.Tensor,
                 temperature: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Integrate ``n_leapfrog`` steps from ``(state.x, p)``: returns ``(x, p, energy, grad)`` at the end.

        ``step_size`` is a float or a per-chain tensor broadcastable over the event dimensions. The
        gradient at the start is the state's; consecutive half kicks are merged into one full kick.
        """
        x, g, e = state.x, state.grad, state.energy
        e_max = e.clone()   # the highest energy on the path: +inf where it touched a hard wall
        kick = -step_size / temperature   # p ← p + kick·∇E is a full momentum step
        p = axpy(p, 0.5 * kick, g)        # a new tensor: the caller's p stays the starting momentum
        for i in range(self.n_leapfrog):
            x = axpy(x, step_size, p)
            e, g = energy.energy_and_grad(x)
            torch.maximum(e_max, e, out=e_max)
            axpy(p, kick if i < self.n_leapfrog - 1 else 0.5 * kick, g, out=p)
        # a trajectory that crossed a hard wall (E = +inf) anywhere is rejected, even if it ends outside it
        return x, p, torch.where(torch.isposinf(e_max), e_max, e), g

    def draw_momentum_and_steps(self, state: SamplerState, step_size: float, temperature: float,
                                generator: torch.Generator | None) -> tuple[float, torch.Tensor, float | torch.Tensor]:
        """Check the knobs and draw a step's fresh randomness, in this order: ``(temperature, p0, eps)``."""
        step_size = check_positive("step_size", step_size)
        temperature = check_positive("temperature", temperature)
        p0 = randn_on(state.x.shape, state.x, generator)
        return temperature, p0, self.chain_step_sizes(step_size, state.x, generator)

    def step(self, energy: Energy, state: SamplerState, step_size: float, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[SamplerState, StepInfo]:
        temperature, p0, eps = self.draw_momentum_and_steps(state, step_size, temperature, generator)
        return self.transition(energy, state, p0, eps, temperature, generator=generator)

    def transition(self, energy: Energy, state: SamplerState, p0: torch.Tensor, eps: float | torch.Tensor,
                   temperature: float | torch.Tensor, u: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> tuple[SamplerState, StepInfo]:
        """The rest of a step from the momentum ``p0`` and step size(s) ``eps``: trajectory and accept.

        Given the accept uniforms ``u`` (drawn after ``p0`` and ``eps``: the leapfrog draws nothing,
        so the stream is the same) it is deterministic and free of host syncs, so it can be captured
        as one graph; without them they are drawn from ``generator``.
        """
        x_new, p_new, e_new, g_new = self.leapfrog(energy, state, p0, eps, temperature)

        h_old = state.energy / temperature + 0.5 * per_chain_sum(p0 * p0)
        h_new = e_new / temperature + 0.5 * per_chain_sum(p_new * p_new)
        energy_error = h_new - h_old
        finite = torch.isfinite(e_new) & all_finite(x_new) & all_finite(p_new) & all_finite(g_new)
        log_alpha = -energy_error
        valid = finite & ~torch.isnan(log_alpha)
        new_state, accepted, accept_prob = metropolis_select(state, x_new, e_new, g_new, log_alpha, valid, u,
                                                             generator)
        # NaN energy errors compare False with <=, so they count as divergent too; a trajectory
        # stopped by a hard wall (E = +inf at finite positions) is an ordinary rejection.
        wall = torch.isposinf(e_new) & all_finite(x_new) & all_finite(p_new)
        divergent = ~wall & (~valid | ~(energy_error <= self.divergence_threshold))
        info = StepInfo(accepted=accepted, accept_prob=accept_prob, divergent=divergent,
                        energy=new_state.energy, n_grad_evals=self.n_leapfrog)
        return new_state, info
