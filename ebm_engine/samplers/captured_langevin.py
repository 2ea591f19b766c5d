"""Langevin with the whole step captured as one graph: for small batches on a GPU.

With a few dozen chains an eager Langevin step is a few dozen tiny kernel launches (update,
clamp, forward, backward, finiteness checks) and one host sync; the GPU waits on Python. This
kernel computes the same update as ``Langevin`` but (a) without any host sync (a non-finite
chain is kept where it was by ``torch.where``, never by a branch on the host) and (b) with the
update, energy and gradient run as one captured unit on a fixed-shape batch:

- ``backend="cuda_graph"``: ``torch.cuda.CUDAGraph`` replays the captured kernels (CUDA only);
- ``backend="compile"``: ``torch.compile`` (``mode="reduce-overhead"``, i.e. CUDA graphs, on a
  GPU; fused C++ kernels on the CPU, which needs a C compiler; ``compiler`` picks another
  ``torch.compile`` backend);
- ``backend="eager"``: the same sync-free step, uncompiled;
- ``backend="auto"``: ``cuda_graph`` on CUDA, ``eager`` elsewhere.

The noise is drawn eagerly from the caller's generator and fed in, so a captured chain follows
the eager chain draw for draw. Step size and temperature enter as tensors: changing them does not
recapture. If capture or compilation fails, the kernel falls back to the eager step and says so
in ``active_backend``. Energies with a hard projection (``Energy.hard_projection``) are refused
(use ``Langevin``).
"""
from __future__ import annotations

import math
import warnings

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.samplers.graph_capture import GraphedFunction, backend_for
from ebm_engine.samplers.langevin import LangevinConfig
from ebm_engine.samplers.state import (Kernel, SamplerState, StepInfo, all_finite, check_positive, randn_on,
                                       select_chains)

BACKENDS = ("auto", "cuda_graph", "compile", "eager")


def _functional_energy_and_grad(energy: Energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Autograd's ``Energy.energy_and_grad`` through ``torch.func`` (which ``torch.compile`` traces)."""
    def total(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = energy(y)
        return e.sum(), e
    grad, (_, e) = torch.func.grad_and_value(total, has_aux=True)(x)
    return e.detach(), grad.detach()


def langevin_update(energy: Energy, x: torch.Tensor, e: torch.Tensor, grad: torch.Tensor, noise: torch.Tensor,
                    drift: torch.Tensor, noise_std: torch.Tensor, clamp: tuple[float, float] | None,
                    functional: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One sync-free Langevin step: ``(x, energy, grad, finite)`` after moving every finite chain."""
    x_new = x - drift * grad + noise_std * noise
    if clamp is not None:
        x_new = x_new.clamp(clamp[0], clamp[1])
    # autograd through the forward pass, not an energy's own ``energy_and_grad``: ``SimpleEBM``'s copies
    # its weights on the host's side, and a replayed graph would keep using the copy
    e_new, g_new = (_functional_energy_and_grad if functional else Energy.energy_and_grad)(energy, x_new)
    finite = torch.isfinite(e_new) & all_finite(x_new) & all_finite(g_new)
    kept = select_chains(finite, SamplerState(x_new, e_new, g_new), SamplerState(x, e, grad))
    return kept.x, kept.energy, kept.grad, finite


class CapturedLangevin(Kernel):
    """Unadjusted Langevin (as ``Langevin``) whose step runs captured; see the module docstring."""

    name = "langevin"

    def __init__(self, noise_scale: float | None = None, clamp: tuple[float, float] | None = None,
                 backend: str = "auto", compiler: str = "inductor"):
        config = LangevinConfig(noise_scale=noise_scale, clamp=clamp)   # the same checks as Langevin's
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.noise_scale, self.clamp = config.noise_scale, config.clamp
        self.backend = backend
        self.compiler = compiler   # torch.compile's backend ("inductor"; "aot_eager" traces without compiling)
        self.active_backend: str | None = None   # what the last step actually ran
        self._key: tuple | None = None
        self._run = None
        self._scalar_key: tuple | None = None

    def _scalars(self, drift: float, noise_std: float, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's two numbers as device tensors, re-sent only when a knob changed (a copy from
        the host would otherwise stall the GPU queue at every step)."""
        key = (drift, noise_std, like.device, like.dtype)
        if self._scalar_key != key:
            self._scalar_key = key
            self._scalar_values = tuple(torch.tensor(v, device=like.device, dtype=like.dtype)
                                        for v in (drift, noise_std))
        return self._scalar_values

    def _build(self, energy: Energy, state: SamplerState, backend: str):
        clamp = self.clamp
        if backend == "cuda_graph":
            scalar = torch.zeros((), device=state.x.device, dtype=state.x.dtype)
            example = (state.x, state.energy, state.grad, torch.zeros_like(state.x), scalar, scalar)
            return GraphedFunction(lambda *values: langevin_update(energy, *values, clamp), example)
        if backend == "compile":
            graphs = state.x.is_cuda and self.compiler == "inductor"
            compiled = torch.compile(langevin_update, mode="reduce-overhead" if graphs else None, dynamic=False,
                                     backend=self.compiler)
            if not graphs:
                return lambda *values: compiled(energy, *values, clamp, functional=True)

            def replay(*values: torch.Tensor) -> tuple[torch.Tensor, ...]:
                # a replay overwrites the graph's outputs, and this step's inputs and the caller's last
                # state are the previous step's outputs: copy them out of the graph's memory
                torch.compiler.cudagraph_mark_step_begin()
                return tuple(t.clone() for t in compiled(energy, *values, clamp, functional=True))
            return replay
        return lambda *values: langevin_update(energy, *values, clamp)

    def step(self, energy: Energy, state: SamplerState, step_size: float, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> tuple[SamplerState, StepInfo]:
        step_size = check_positive("step_size", step_size)
        temperature = check_positive("temperature", temperature)
        if energy.hard_projection() is not None:
            raise ValueError("CapturedLangevin does not project onto hard constraints; use Langevin")
        noise_std = math.sqrt(2.0 * step_size) if self.noise_scale is None else self.noise_scale
        noise = randn_on(state.x.shape, state.x, generator)
        values = (state.x, state.energy, state.grad, noise, *self._scalars(step_size / temperature, noise_std, state.x))
        key = (id(energy), tuple(state.x.shape), state.x.dtype, state.x.device)
        if key != self._key:
            self._run, self.active_backend = None, backend_for(self.backend, state.x)
            try:
                self._run = self._build(energy, state, self.active_backend)
                result = self._run(*values)
            except Exception as exc:   # no C compiler, an op capture does not support, ...
                if self.active_backend == "eager":
                    raise
                warnings.warn(f"captured Langevin step unavailable ({type(exc).__name__}: {exc}); running eagerly",
                              RuntimeWarning, stacklevel=2)
                self.active_backend = "eager"
                self._run = self._build(energy, state, "eager")
                result = self._run(*values)
            self._key = key
        else:
            result = self._run(*values)
        x, e, g, finite = result
        info = StepInfo(accepted=finite, accept_prob=finite.to(x.dtype), divergent=~finite, energy=e)
        return SamplerState(x, e, g), info
