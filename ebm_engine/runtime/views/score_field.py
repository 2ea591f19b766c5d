"""Score fields on 2D grids for drawing: arrows on a coarse grid, and a score-error map on a fine one."""
from __future__ import annotations

import numpy as np
import torch

from ebm_engine.metrics.fisher import energy_score, log_density_score
from ebm_engine.metrics.partition import grid_points
from ebm_engine.runtime.job import to_numpy


def arrows(points: torch.Tensor, score: torch.Tensor) -> dict[str, np.ndarray]:
    """Arrow data for a vector-field plot: position, angle (radians) and magnitude of each score."""
    return {"x": to_numpy(points[:, 0]), "y": to_numpy(points[:, 1]),
            "angle": to_numpy(torch.atan2(score[:, 1], score[:, 0])),
            "magnitude": to_numpy(score.norm(dim=1))}


def model_arrows(energy, bounds, resolution: int, device) -> dict[str, np.ndarray]:
    points = grid_points(bounds, resolution, device)[2]
    return arrows(points, energy_score(energy, points))


def true_score_grid(log_prob, bounds, resolution: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The grid's points, the data score ``∇log p`` and the density ``p`` there: fixed for a data set,
    so a job computes them once and reuses them for every disagreement map."""
    points = grid_points(bounds, resolution, device)[2]
    true = log_density_score(log_prob, points.double()).float()
    density = torch.exp(log_prob(points.double())).float()
    return points, true, density


def energy_and_fisher_integrand_on(energy, grid: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The energy and ``p(x) · ½||∇log p - s_model||²`` on a grid made by ``true_score_grid``, both
    ``(resolution, resolution)`` with rows = y, from one energy-and-gradient pass."""
    points, true, density = grid
    resolution = int(round(len(points) ** 0.5))
    e, grad = energy.energy_and_grad(points)
    diff = true + grad   # the model's score is -∇E
    integrand = density * 0.5 * (diff ** 2).sum(dim=1)
    return e.reshape(resolution, resolution), integrand.reshape(resolution, resolution)

