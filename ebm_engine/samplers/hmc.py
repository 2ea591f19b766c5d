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
from ebm_engine.samplers.state import (Kernel, SamplerState, StepInfo, all_finite, axpy, metropolis_select,
                                       per_chain_sum, rand_on, randn_on)


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

    def grad_evals_per_step(self) -> int:
        return self.n_leapfrog

    def chain_step_sizes(self, step_size: float | torch.Tensor, jitter_u: torch.Tensor | None,
                         like: torch.Tensor) -> float | torch.Tensor:
        """The step size (no jitter) or one jittered step size per chain from its uniform ``jitter_u``,
        shaped to broadcast over the events of ``like``."""
        if jitter_u is None:
            return step_size
        eps = step_size * (1.0 + self.jitter * (2.0 * jitter_u - 1.0))
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

    def draw(self, like: torch.Tensor, generator: torch.Generator | None,
             steps: tuple[int, ...] = ()) -> tuple[torch.Tensor, ...]:
        """The momentum, the jitter uniforms (when ``jitter > 0``) and the accept uniforms, in this order."""
        p0 = randn_on((*steps, *like.shape), like, generator)
        chains = (*steps, like.shape[0])
        jitter = (rand_on(chains, like, generator),) if self.jitter > 0.0 else ()
        return (p0, *jitter, rand_on(chains, like, generator))

    def transition(self, energy: Energy, state: SamplerState, draws: tuple[torch.Tensor, ...],
                   step_size: float | torch.Tensor,
                   temperature: float | torch.Tensor) -> tuple[SamplerState, StepInfo]:
        """A trajectory from the drawn momentum and the Metropolis test with the drawn uniform."""
        p0, *jitter_u, u = draws
        eps = self.chain_step_sizes(step_size, jitter_u[0] if jitter_u else None, state.x)
        x_new, p_new, e_new, g_new = self.leapfrog(energy, state, p0, eps, temperature)

        h_old = state.energy / temperature + 0.5 * per_chain_sum(p0 * p0)
        h_new = e_new / temperature + 0.5 * per_chain_sum(p_new * p_new)
        energy_error = h_new - h_old
        finite = torch.isfinite(e_new) & all_finite(x_new) & all_finite(p_new) & all_finite(g_new)
        log_alpha = -energy_error
        valid = finite & ~torch.isnan(log_alpha)
        new_state, accepted, accept_prob = metropolis_select(state, x_new, e_new, g_new, log_alpha, valid, u)
        # NaN energy errors compare False with <=, so they count as divergent too; a trajectory
        # stopped by a hard wall (E = +inf at finite positions) is an ordinary rejection.
        wall = torch.isposinf(e_new) & all_finite(x_new) & all_finite(p_new)
        divergent = ~wall & (~valid | ~(energy_error <= self.divergence_threshold))
        info = StepInfo(accepted=accepted, accept_prob=accept_prob, divergent=divergent,
                        energy=new_state.energy, n_grad_evals=self.n_leapfrog)
        return new_state, info
