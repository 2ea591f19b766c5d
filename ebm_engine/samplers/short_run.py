"""Short-run generation from noise (the generation mode of modern image EBMs), one step at a time.

A batch of chains starts from noise (uniform in the data range, or Gaussian) and runs ``steps``
Langevin updates ``x ← clamp(x - ε ∇E(x)/T + σ ξ)`` with step size ``ε`` and noise scale ``σ``
as separate knobs. ``ShortRunChain`` exposes each step, so a caller can animate the chain; the
model's weights are not tracked by autograd while it runs.
"""
from __future__ import annotations

import torch

from ebm_engine.energies.base import Energy, as_energy
from ebm_engine.energies.frozen import frozen
from ebm_engine.samplers.langevin import Langevin
from ebm_engine.samplers.state import SamplerState


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


class ShortRunChain:
    """Noise-initialised short-run Langevin chains; ``step()`` advances them once."""

    def __init__(self, energy: Energy, start: torch.Tensor, step_size: float, noise_scale: float,
                 temperature: float = 1.0, clamp: tuple[float, float] | None = (0.0, 1.0),
                 generator: torch.Generator | None = None):
        self.energy = as_energy(energy)
        self.kernel = Langevin(noise_scale=noise_scale, clamp=clamp)
        self.step_size = step_size
        self.temperature = temperature
        self.generator = generator
        self.steps_done = 0
        with frozen(self.energy):
            self.state: SamplerState = self.kernel.init(self.energy, start.clamp(*clamp) if clamp else start)

    @property
    def x(self) -> torch.Tensor:
        return self.state.x

    @property
    def energies(self) -> torch.Tensor:
        return self.state.energy

    def step(self, n: int = 1) -> torch.Tensor:
        """Advance every chain ``n`` Langevin steps; returns the positions."""
        with frozen(self.energy):
            for _ in range(n):
                self.state, _ = self.kernel.step(self.energy, self.state, self.step_size, self.temperature,
                                                 self.generator)
                self.steps_done += 1
        return self.state.x


def short_run_samples(energy: Energy, n: int, shape: tuple[int, ...], steps: int, step_size: float,
                      noise_scale: float, temperature: float = 1.0,
                      clamp: tuple[float, float] | None = (0.0, 1.0), init: str = "uniform",
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` samples from ``steps`` Langevin updates started at noise (the generation mode of image EBMs)."""
    device = next(energy.parameters()).device
    start = noise_images(n, shape, generator, device, init, clamp or (0.0, 1.0))
    chain = ShortRunChain(energy, start, step_size, noise_scale, temperature, clamp, generator)
    return chain.step(steps)
