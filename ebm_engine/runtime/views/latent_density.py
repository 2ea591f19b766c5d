"""A latent model's marginal density on a display grid, its importance draws renewed a group at a time."""
from __future__ import annotations

import math

import torch

from ebm_engine.metrics.partition import Bounds, grid_points
from ebm_engine.models.latent_ebm import LatentEBM


class RollingLatentDensity:
    """``Ê(x) = -(logsumexp_k log ŵ_k - log K)`` on a grid, from ``K = n_samples`` draws shared by all points.

    ``fill`` draws all K at the model's current weights: the estimate of ``LatentEBM.marginal_energy``
    with common noise. ``roll`` replaces the oldest of ``groups`` groups of draws with fresh ones at
    the current weights: one roll costs 1/groups of a fill and moves the whole grid at once. While
    the model trains, the estimate mixes the weights of the last ``groups`` rolls; ``behind`` says
    whether a group was drawn with other weights than ``version``; a fill makes it exact again.
    """

    def __init__(self, bounds: Bounds, resolution: int, n_samples: int, groups: int,
                 generator: torch.Generator | None = None):
        if groups < 1 or n_samples < groups or n_samples % groups:
            raise ValueError(f"the {n_samples} importance draws must split into {groups} equal groups")
        self.bounds = bounds
        self.resolution = resolution
        self.n_samples = n_samples
        self.groups = groups
        self.generator = generator   # its own: the draws depend on how often it rolls
        self.partial: torch.Tensor | None = None   # (groups, resolution²): logsumexp of each group's log-weights
        self.versions: list = [None] * groups      # the weights each group was drawn with
        self.oldest = 0
        self.rolls = 0

    def behind(self, version) -> bool:
        """Whether some group was drawn with weights other than ``version`` (or nothing is drawn yet)."""
        return self.partial is None or any(v != version for v in self.versions)

    def fill(self, model: LatentEBM, version=None) -> None:
        """All ``K`` draws at the current weights (``version`` names them)."""
        log_w = self._log_weights(model, self.n_samples)
        self.partial = torch.logsumexp(log_w.reshape(self.groups, -1, log_w.shape[-1]), dim=1)
        self.versions = [version] * self.groups
        self.oldest = 0

    def roll(self, model: LatentEBM, version=None) -> None:
        """The oldest group's draws replaced by fresh ones at the current weights (a fill when empty)."""
        if self.partial is None:
            self.fill(model, version)
            return
        log_w = self._log_weights(model, self.n_samples // self.groups)
        self.partial[self.oldest] = torch.logsumexp(log_w, dim=0)
        self.versions[self.oldest] = version
        self.oldest = (self.oldest + 1) % self.groups
        self.rolls += 1

    def energy_grid(self) -> torch.Tensor:
        """The estimated marginal energy, ``(resolution, resolution)`` with row = y (as ``energy_on_grid``)."""
        if self.partial is None:
            raise RuntimeError("nothing drawn yet: call fill first")
        log_mean = torch.logsumexp(self.partial, dim=0) - math.log(self.n_samples)
        return -log_mean.reshape(self.resolution, self.resolution)

    def _log_weights(self, model: LatentEBM, n: int) -> torch.Tensor:
        weight = next(model.parameters())
        _, _, points = grid_points(self.bounds, self.resolution, weight.device, weight.dtype)
        with torch.no_grad():
            return model.log_importance_weights(points, n, self.generator, common_noise=True)
