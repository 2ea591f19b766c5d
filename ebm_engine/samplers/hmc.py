"""Hamiltonian Monte Carlo with a fixed number of leapfrog steps for ``p(x) ∝ exp(-E(x)/T)``.

Each step draws a fresh momentum ``p ~ N(0, I)``, integrates the Hamiltonian
``H(x, p) = E(x)/T + |p|²/2`` with ``n_leapfrog`` leapfrog steps of size ``ε`` and accepts the
end point with probability ``min(1, exp(H_old - H_new))``, separately for every chain.

Unlike the guide's sketch: one uniform and one decision per chain (never one for the batch),
energies are never summed across chains before the test, and gradients come from
``Energy.energy_and_grad`` (detached), so no autograd graph lives through the trajectory.
The starting energy and gradient are reused from the state: ``n_leapfrog`` gradients per step.

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

import math

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.samplers.state import (SamplerState, StepInfo, all_finite, check_positive, per_chain_sum,
                                       rand_on, randn_on)


class HMC:
    """Static-trajectory HMC kernel in the ``init`` / ``step`` shape, identity mass matrix."""

    name = "hmc"
    metropolis_adjusted = True

    def __init__(self, n_leapfrog: int = 10, divergence_threshold: float = 1000.0, jitter: float = 0.1):
        if isinstance(n_leapfrog, bool) or not isinstance(n_leapfrog, int) or n_leapfrog < 1:
            raise ValueError(f"n_leapfrog must be an integer >= 1, got {n_leapfrog!r}")
        threshold = float(divergence_threshold)
        if not (threshold > 0 and math.isfinite(threshold)):
            raise ValueError(f"divergence_threshold must be a positive finite number, got {divergence_threshold}")
        jitter = float(jitter)
        if not 0.0 <= jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.n_leapfrog = n_leapfrog
        self.divergence_threshold = threshold
        self.jitter = jitter

    def init(self, energy: Energy, x: torch.Tensor) -> SamplerState:
        e, g = energy.energy_and_grad(x)
        return SamplerState(x.detach().clone(), e, g)

    def chain_step_sizes(self, step_size: float, like: torch.Tensor,
                         generator: torch.Generator | None) -> float | torch.Tensor:
        """The step size (``jitter=0``) or one jittered step size per chain, shaped to broadcast over events."""
        if self.jitter == 0.0:
            return step_size
        u = rand_on(like.shape[0], like, generator)
        eps = step_size * (1.0 + self.jitter * (2.0 * u - 1.0))
        return eps.view(-1, *([1] * (like.dim() - 1)))

    def leapfrog(self, energy: Energy, state: SamplerState, p: torch.Tensor, step_size: float | torch.Tensor,
                 temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Integrate ``n_leapfrog`` steps from ``(state.x, p)``: returns ``(x, p, energy, grad)`` at the end.

        ``step_size`` is a float or a per-chain tensor broadcastable over the event dimensions.
        """
        x, g = state.x, state.grad
        e = state.energy
        e_max = e.clone()   # the highest energy on the path: +inf where it touched a hard wall
        if isinstance(step_size, torch.Tensor):   # per-chain (jittered) step sizes
            p = p - (0.5 * step_size / temperature) * g
            for i in range(self.n_leapfrog):
                x = x + step_size * p
                e, g = energy.energy_and_grad(x)
                torch.maximum(e_max, e, out=e_max)
                scale = step_size if i < self.n_leapfrog - 1 else 0.5 * step_size
                p = p - (scale / temperature) * g
        else:                                     # one step size: fused, allocation-light updates
            p = torch.add(p, g, alpha=-0.5 * step_size / temperature)
            for i in range(self.n_leapfrog):
                x = torch.add(x, p, alpha=step_size)
                e, g = energy.energy_and_grad(x)
                torch.maximum(e_max, e, out=e_max)
                scale = step_size if i < self.n_leapfrog - 1 else 0.5 * step_size
                p.add_(g, alpha=-scale / temperature)
        # a trajectory that crossed a hard wall (E = +inf) anywhere is rejected, even if it ends outside it
        return x, p, torch.where(torch.isposinf(e_max), e_max, e), g

    def accept(self, log_alpha: torch.Tensor, valid: torch.Tensor, like: torch.Tensor,
               generator: torch.Generator | None) -> torch.Tensor:
        """One Metropolis decision per chain, each with its own uniform."""
        u = rand_on(log_alpha.shape[0], like, generator)
        return valid & (torch.log(u) < log_alpha)

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
        as one graph; without them ``accept`` draws them from ``generator``.
        """
        x = state.x
        x_new, p_new, e_new, g_new = self.leapfrog(energy, state, p0, eps, temperature)

        h_old = state.energy / temperature + 0.5 * per_chain_sum(p0 * p0)
        h_new = e_new / temperature + 0.5 * per_chain_sum(p_new * p_new)
        energy_error = h_new - h_old
        finite = torch.isfinite(e_new) & all_finite(x_new) & all_finite(p_new) & all_finite(g_new)
        log_alpha = -energy_error
        valid = finite & ~torch.isnan(log_alpha)
        accept_prob = torch.where(valid, torch.exp(log_alpha.clamp(max=0.0)), torch.zeros_like(log_alpha))
        if u is None:
            accepted = self.accept(log_alpha, valid, x, generator)
        else:
            accepted = valid & (torch.log(u) < log_alpha)   # one uniform and one decision per chain
        # NaN energy errors compare False with <=, so they count as divergent too; a trajectory
        # stopped by a hard wall (E = +inf at finite positions) is an ordinary rejection.
        wall = torch.isposinf(e_new) & all_finite(x_new) & all_finite(p_new)
        divergent = ~wall & (~valid | ~(energy_error <= self.divergence_threshold))

        keep = accepted.view(-1, *([1] * (x.dim() - 1)))
        new_state = SamplerState(torch.where(keep, x_new, x), torch.where(accepted, e_new, state.energy),
                                 torch.where(keep, g_new, state.grad))
        info = StepInfo(accepted=accepted, accept_prob=accept_prob, divergent=divergent,
                        energy=new_state.energy, n_grad_evals=self.n_leapfrog)
        return new_state, info
