"""Surfaces for 2D jobs: a normalised density from an energy grid, its exact marginals, and what a page
draws of them."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ebm_engine.runtime.job import to_numpy


def exact_marginals(log_density: torch.Tensor, bounds) -> dict[str, np.ndarray]:
    """Marginal densities along x and y from a normalised log-density grid (rows = y)."""
    (x0, x1), (y0, y1) = bounds
    ny, nx = log_density.shape
    p = log_density.exp()
    dx, dy = (x1 - x0) / nx, (y1 - y0) / ny
    return {"marginal_x": to_numpy(p.sum(0) * dy), "marginal_y": to_numpy(p.sum(1) * dx),
            "grid_x": np.linspace(x0 + dx / 2, x1 - dx / 2, nx, dtype=np.float32),
            "grid_y": np.linspace(y0 + dy / 2, y1 - dy / 2, ny, dtype=np.float32)}


def grid_density(energy_grid: torch.Tensor, bounds, temperature: float) -> torch.Tensor:
    """Normalised log-density ``-E/T - log Z`` on a grid (quadrature over the box)."""
    (x0, x1), (y0, y1) = bounds
    ny, nx = energy_grid.shape
    log_p = -energy_grid / temperature
    finite = torch.isfinite(log_p)
    log_p = torch.where(finite, log_p, torch.full_like(log_p, -math.inf))
    return log_p - torch.logsumexp(log_p.flatten(), 0) - math.log((x1 - x0) / nx * (y1 - y0) / ny)


def density_view(log_density: torch.Tensor, name: str = "density") -> dict[str, Any]:
    """A density grid to draw, as ``name``, and its maximum (the top of its colour scale) as ``name_max``."""
    density = log_density.exp()
    return {name: to_numpy(density), f"{name}_max": float(density.max())}


def energy_range(energy: torch.Tensor) -> tuple[float, float]:
    """The colour scale of an energy grid: its finite minimum to its 90th percentile (a few high walls
    would wash out the rest)."""
    finite = energy[torch.isfinite(energy)]
    if not len(finite):
        return 0.0, 1.0
    return float(finite.min()), float(torch.quantile(finite, 0.9))
