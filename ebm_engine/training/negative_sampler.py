"""The Langevin kernel a trainer draws its negatives with, rebuilt only when its settings change.

``sampler="eager"`` is the plain ``Langevin`` kernel; ``"captured"`` runs its ``transition`` as a
one-step program (``CompiledKernel``): replayed as one CUDA graph on a GPU, the same sync-free step
uncompiled elsewhere. The program is kept across training iterations as long as the
energy, batch shape and noise setting stay the same (the weights are its inputs, read at every call).
"""
from __future__ import annotations

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.samplers.compiled import CompiledKernel
from ebm_engine.samplers.langevin import Langevin
from ebm_engine.samplers.mixed_precision import energy_in_precision

SAMPLERS = ("eager", "captured")


class NegativeSampler:
    """``get(...)`` returns ``(kernel, energy_to_sample)``, cached for unchanged settings (checked by the
    trainer's config)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._value: tuple[Langevin | CompiledKernel, Energy] | None = None

    def get(self, energy: Energy, noise_scale: float | None, clamp, precision: str,
            sampler: str) -> tuple[Langevin | CompiledKernel, Energy]:
        clamp = None if clamp is None else (float(clamp[0]), float(clamp[1]))
        key = (id(energy), noise_scale, clamp, precision, sampler)
        if key != self._key or self._value is None:
            kernel = Langevin(noise_scale=noise_scale, clamp=clamp)
            if sampler == "captured":
                cuda = next(energy.parameters(), torch.empty(0)).is_cuda
                kernel = CompiledKernel(kernel, background=False, backend=None if cuda else "eager")
            self._key, self._value = key, (kernel, energy_in_precision(energy, precision))
        return self._value
