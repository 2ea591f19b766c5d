"""How far an energy is from invariance under a group: ``max_x |E(g·x) - E(x)|`` for each element g."""
from __future__ import annotations

from typing import Callable

import torch

from ebm_engine.models.point_groups import PointGroup


def invariance_error(energy: Callable[[torch.Tensor], torch.Tensor], group: PointGroup,
                     x: torch.Tensor) -> torch.Tensor:
    """Per group element, the largest absolute energy change over the points ``x``: ``(order,)``."""
    with torch.no_grad():
        e = energy(x)
        orbit = group.orbit(x)
        moved = torch.stack([energy(orbit[g]) for g in range(group.order)])
    return (moved - e[None]).abs().amax(dim=1)


def relative_invariance_error(energy, group: PointGroup, x: torch.Tensor) -> float:
    """The worst element's error divided by the energy's spread over ``x`` (0: exactly invariant)."""
    with torch.no_grad():
        e = energy(x)
    spread = float(e.max() - e.min()) or 1.0
    return float(invariance_error(energy, group, x).max()) / spread
