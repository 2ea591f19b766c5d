"""Annealed Langevin dynamics (Song & Ermon 2019) over a ladder of noise levels.

Chains run ``steps_per_level`` Langevin steps at each level of the ladder, largest σ first,
with step size ``α_i = step_scale · σ_i² / σ_min²``: large moves while the noisy densities are
smooth and connect the modes, small ones once the levels approach the data.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.samplers.short_run import ShortRunChain
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
    x = x0.detach()
    for sigma in ladder:   # the weights are frozen: gradients w.r.t. x only
        step = step_scale * (sigma / ladder[-1]) ** 2
        x = ShortRunChain(energy_at(sigma), x, step, None, temperature, None, generator).step(steps_per_level)
    return x
