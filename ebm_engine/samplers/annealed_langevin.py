"""Annealed Langevin dynamics (Song & Ermon 2019) over a ladder of noise levels.

Chains run ``steps_per_level`` Langevin steps at each level of the ladder, largest σ first,
with step size ``α_i = step_scale · σ_i² / σ_min²``: large moves while the noisy densities are
smooth and connect the modes, small ones once the levels approach the data.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ebm_engine.energies.base import Energy, as_energy
from ebm_engine.energies.frozen import frozen
from ebm_engine.samplers.langevin import Langevin
from ebm_engine.samplers.state import check_positive


def annealed_langevin(energy_at: Callable[[float], Energy], sigmas: Sequence[float], x0: torch.Tensor,
                      steps_per_level: int = 20, step_scale: float = 1e-3, temperature: float = 1.0,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Positions after annealing through ``sigmas`` (sorted largest first); no graph is kept.

    ``energy_at(σ)`` returns the energy at level σ (``NoiseConditionalEBM.at``; for a model
    trained at one level, ``lambda σ: model``), or any module or callable ``as_energy`` takes.
    """
    if not sigmas or steps_per_level < 1:
        raise ValueError("need at least one noise level and one step per level")
    check_positive("step_scale", step_scale)
    ladder = sorted((float(s) for s in sigmas), reverse=True)
    kernel = Langevin()
    x = x0.detach()
    for sigma in ladder:
        energy = as_energy(energy_at(sigma))
        step = step_scale * (sigma / ladder[-1]) ** 2
        with frozen(energy):   # gradients w.r.t. x only: no graph through the weights
            state = kernel.init(energy, x)
            for _ in range(steps_per_level):
                state, _ = kernel.step(energy, state, step, temperature, generator)
        x = state.x
    return x
