"""HMC with its leapfrog trajectory and accept/reject replayed as one CUDA graph.

An HMC step with L leapfrog steps launches L forward/backward passes plus the update arithmetic;
with few chains on a GPU the launches dominate. ``CapturedHMC`` draws the momentum, the jittered
step sizes and the accept uniforms eagerly from the caller's generator (the same draws, in the same
order, as ``HMC``) and runs ``HMC.transition`` — already free of host syncs — as one captured
graph per energy, batch shape, leapfrog count and temperature. Step size enters as a tensor, so a
step-size change replays the same graph; a temperature change recaptures. ``backend="auto"`` uses
CUDA graphs on a GPU and the eager transition elsewhere; a failed capture falls back to eager.
"""
from __future__ import annotations

import warnings

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.samplers.graph_capture import GraphedFunction, backend_for
from ebm_engine.samplers.hmc import HMC
from ebm_engine.samplers.state import SamplerState, StepInfo, rand_on

BACKENDS = ("auto", "cuda_graph", "eager")


class CapturedHMC(HMC):
    """``HMC`` whose transition is captured; same arguments plus ``backend``."""

    def __init__(self, n_leapfrog: int = 10, divergence_threshold: float = 1000.0, jitter: float = 0.1,
                 backend: str = "auto"):
        super().__init__(n_leapfrog, divergence_threshold, jitter)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.backend = backend
        self.active_backend: str | None = None
        self._key: tuple | None = None
        self._run = None

    def step(self, energy: Energy, state: SamplerState, step_size: float, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[SamplerState, StepInfo]:
        temperature, p0, eps = self.draw_momentum_and_steps(state, step_size, temperature, generator)
        x = state.x
        u = rand_on(x.shape[0], x, generator)
        if not isinstance(eps, torch.Tensor):   # one step size: a tensor too, so it can change between replays
            eps = torch.full((x.shape[0], *([1] * (x.dim() - 1))), eps, device=x.device, dtype=x.dtype)
        values = (x, state.energy, state.grad, p0, eps, u)
        key = (id(energy), tuple(x.shape), x.dtype, x.device, self.n_leapfrog, temperature)
        if key != self._key:
            def run(x, e, g, p0, eps, u):
                state, info = self.transition(energy, SamplerState(x, e, g), p0, eps, temperature, u=u)
                return state.x, state.energy, state.grad, info.accepted, info.accept_prob, info.divergent

            self._run, self.active_backend = run, backend_for(self.backend, x)
            if self.active_backend == "cuda_graph":
                try:
                    self._run = GraphedFunction(run, values)
                except Exception as exc:   # an op that capture does not support, ...
                    warnings.warn(f"captured HMC step unavailable ({type(exc).__name__}: {exc}); running eagerly",
                                  RuntimeWarning, stacklevel=2)
                    self.active_backend = "eager"
            self._key = key
        x_new, e_new, g_new, accepted, accept_prob, divergent = self._run(*values)
        info = StepInfo(accepted=accepted, accept_prob=accept_prob, divergent=divergent, energy=e_new,
                        n_grad_evals=self.n_leapfrog)
        return SamplerState(x_new, e_new, g_new), info
