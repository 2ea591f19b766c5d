"""A noise-conditional energy ``E(x, σ)`` for training at several noise levels (Song & Ermon 2019).

An MLP reads ``x`` together with ``log σ``; one network then holds an energy for every level of a
noise ladder. Samplers see one level at a time through ``at(σ)``, an ordinary ``Energy``; the
energy of the model itself (``model(x)``) is the one at the smallest level, the model of the data.
"""
from __future__ import annotations

import math

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.models.simple_ebm import mlp


def geometric_ladder(sigma_max: float, sigma_min: float, levels: int) -> tuple[float, ...]:
    """``levels`` noise levels from ``sigma_max`` down to ``sigma_min``, equally spaced in log σ."""
    if levels < 1 or not 0 < sigma_min <= sigma_max < float("inf"):
        raise ValueError(f"need levels >= 1 and 0 < sigma_min <= sigma_max, got {levels}, {sigma_min}, {sigma_max}")
    if levels == 1:
        return (float(sigma_min),)
    ratio = math.log(sigma_max / sigma_min) / (levels - 1)
    return tuple(float(sigma_max * math.exp(-ratio * i)) for i in range(levels))


class NoiseConditionalEBM(Energy):
    """MLP energy of ``(x, log σ)``; ``sigmas`` is the ladder it is trained on, largest first."""

    def __init__(self, input_dim: int = 2, sigmas: tuple[float, ...] = (1.0, 0.1), hidden: int = 128,
                 depth: int = 2, activation: str = "silu"):
        super().__init__()
        if not sigmas or any(not 0 < s < float("inf") for s in sigmas):
            raise ValueError(f"sigmas must be positive and finite, got {sigmas}")
        self.sigmas = tuple(sorted((float(s) for s in sigmas), reverse=True))
        self.network = mlp(input_dim + 1, hidden, depth, 1, activation)

    @property
    def sigma_min(self) -> float:
        return self.sigmas[-1]

    def energy_at(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """``E(x, σ)`` with one level for the batch or one per sample."""
        flat = x.reshape(x.shape[0], -1)
        s = torch.as_tensor(sigma, dtype=flat.dtype, device=flat.device)
        log_s = torch.log(s).expand(flat.shape[0]) if s.dim() == 0 else torch.log(s)
        return self.network(torch.cat([flat, log_s[:, None]], dim=1)).squeeze(-1)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.energy_at(x, self.sigma_min)

    def at(self, sigma: float) -> "FixedLevelEnergy":
        """The energy at one noise level, as an ``Energy`` samplers can use."""
        return FixedLevelEnergy(self, float(sigma))


class FixedLevelEnergy(Energy):
    """``x -> E(x, σ)`` for a fixed σ of a ``NoiseConditionalEBM`` (shares its parameters)."""

    def __init__(self, model: NoiseConditionalEBM, sigma: float):
        super().__init__()
        self.model = model
        self.sigma = sigma

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.energy_at(x, self.sigma)
