"""Short-run generation from noise (the generation mode of modern image EBMs), one step at a time.

A batch of chains starts from noise (uniform in the data range, or Gaussian) and runs ``steps``
Langevin updates ``x ← clamp(x - ε ∇E(x)/T + σ ξ)`` with step size ``ε`` and noise scale ``σ``
as separate knobs. ``ShortRunChain`` exposes each step, so a caller can animate the chain; the
model's weights are not tracked by autograd while it runs. ``InFlightChains``, its base, runs any
kernel that way (a training iteration's negatives).
"""
from __future__ import annotations

import torch

from ebm_engine.energies.base import Energy, as_energy
from ebm_engine.energies.frozen import frozen
from ebm_engine.samplers.langevin import Langevin
from ebm_engine.samplers.state import SamplerState
from ebm_engine.stepwise import Steps, finish


def noise_images(n: int, shape: tuple[int, ...], generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu", init: str = "uniform",
                 data_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """``n`` noise images of ``shape``: uniform in ``data_range`` or standard Gaussian."""
    draw_on = generator.device if generator is not None else device   # a generator draws on its own device
    if init == "uniform":
        low, high = data_range
        return (low + (high - low) * torch.rand(n, *shape, generator=generator, device=draw_on)).to(device)
    if init == "gaussian":
        return torch.randn(n, *shape, generator=generator, device=draw_on).to(device)
    raise ValueError(f"init must be 'uniform' or 'gaussian', got {init!r}")


class InFlightChains:
    """Chains started from ``x`` under ``kernel`` on ``energy``, advanced step by step: driving them in
    slices changes when the steps happen, not what they compute (the same kernel steps and random draws).
    ``model`` (whose weights ``energy`` uses) is frozen while they move, and in eval mode with
    ``eval_mode``; ``idx`` is the caller's (a trainer's replay-buffer rows)."""

    def __init__(self, kernel, energy: Energy, model: torch.nn.Module, x: torch.Tensor,
                 idx: torch.Tensor | None = None, eval_mode: bool = False):
        self.kernel, self.energy, self.model, self.idx, self.eval_mode = kernel, energy, model, idx, eval_mode
        with frozen(model, eval_mode):
            self.state: SamplerState = kernel.init(energy, x)
        self.steps_done = 0

    @property
    def x(self) -> torch.Tensor:
        return self.state.x

    def advance(self, steps: int, step_size: float, temperature: float,
                generator: torch.Generator | None) -> Steps:
        """Take the chains towards ``steps`` kernel steps in total, yielding between steps. The weights
        stay frozen until the steps end or are closed (close them when you stop taking them)."""
        with frozen(self.model, self.eval_mode):
            while self.steps_done < steps:
                self.state, _ = self.kernel.step(self.energy, self.state, step_size, temperature, generator)
                self.steps_done += 1
                if self.steps_done < steps:
                    yield


class ShortRunChain(InFlightChains):
    """Noise-initialised short-run Langevin chains; ``step()`` advances them."""

    def __init__(self, energy: Energy, start: torch.Tensor, step_size: float, noise_scale: float,
                 temperature: float = 1.0, clamp: tuple[float, float] | None = (0.0, 1.0),
                 generator: torch.Generator | None = None):
        energy = as_energy(energy)
        super().__init__(Langevin(noise_scale=noise_scale, clamp=clamp), energy, energy,
                         start.clamp(*clamp) if clamp else start)
        self.step_size, self.temperature, self.generator = step_size, temperature, generator

    def step(self, n: int = 1) -> torch.Tensor:
        """Advance every chain ``n`` Langevin steps; returns the positions."""
        finish(self.advance(self.steps_done + n, self.step_size, self.temperature, self.generator))
        return self.x


def short_run_samples(energy: Energy, n: int, shape: tuple[int, ...], steps: int, step_size: float,
                      noise_scale: float, temperature: float = 1.0,
                      clamp: tuple[float, float] | None = (0.0, 1.0), init: str = "uniform",
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` samples from ``steps`` Langevin updates started at noise (the generation mode of image EBMs)."""
    device = next(energy.parameters()).device
    start = noise_images(n, shape, generator, device, init, clamp or (0.0, 1.0))
    chain = ShortRunChain(energy, start, step_size, noise_scale, temperature, clamp, generator)
    return chain.step(steps)
