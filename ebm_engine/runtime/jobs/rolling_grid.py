"""A slow energy grid for display, redrawn a band of rows per snapshot so that it follows training."""
from __future__ import annotations

from typing import Callable

import torch

from ebm_engine.runtime.jobs.score_field import cell_centres


class RollingGrid:
    """Energies at the cell centres of a ``resolution²`` grid over ``bounds`` (rows = y), kept between
    snapshots. ``update`` recomputes the next band of rows that the current weights have not drawn yet
    (all of them the first time): a grid too slow to redraw whole at the frame rate still changes at
    every snapshot while the weights move, for ``1 / bands`` of its cost."""

    def __init__(self, bounds, resolution: int, bands: int, device):
        if not 1 <= bands <= resolution:
            raise ValueError(f"bands must be in [1, resolution], got {bands}")
        self.points = cell_centres(bounds, resolution, device)
        self.resolution, self.bands = resolution, bands
        self.grid: torch.Tensor | None = None
        self.drawn_by: list = [None] * bands   # per band: the weights version it was drawn with
        self.next_band = 0

    def _rows(self, band: int) -> slice:
        return slice(band * self.resolution // self.bands, (band + 1) * self.resolution // self.bands)

    def update(self, energy: Callable[[torch.Tensor], torch.Tensor], version) -> bool:
        """Redraw one stale band (every band the first time) with ``energy`` of the points, whose weights
        are ``version``; False when every band is already drawn with them."""
        if self.grid is None:
            self.grid = energy(self.points).reshape(self.resolution, self.resolution)
            self.drawn_by = [version] * self.bands
            return True
        for i in range(self.bands):
            band = (self.next_band + i) % self.bands
            if self.drawn_by[band] != version:
                rows = self._rows(band)
                points = self.points.reshape(self.resolution, self.resolution, -1)[rows].reshape(-1, 2)
                self.grid[rows] = energy(points).reshape(-1, self.resolution)
                self.drawn_by[band], self.next_band = version, band + 1
                return True
        return False
