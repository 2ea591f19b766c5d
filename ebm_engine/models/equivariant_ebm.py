"""EquivariantEBM: an energy invariant to a finite group of 2D symmetries, ``E(g·x) = E(x)``.

Invariance makes the density ``exp(-E)`` give every symmetric copy of a mode the same mass, so
data seen in one sector teach the model about all of them. Two ways to get it:

- ``mode="average"``: symmetrise any base energy over the group, ``E(x) = mean_g E_base(g·x)``.
  ``E(h·x) = mean_g E_base(gh·x)`` is the same average in another order: exact invariance.
- ``mode="features"``: by construction, an MLP on invariant features of the point: the radius,
  ``cos nθ`` and (rotations only) ``sin nθ``. One base evaluation instead of ``|G|``.

The group can be swapped between steps (assign ``group``), so the order can change while a model
trains.
"""
from __future__ import annotations

import torch
from torch import nn

from ebm_engine.energies.base import Energy
from ebm_engine.models.point_groups import PointGroup
from ebm_engine.models.simple_ebm import SimpleEBM

MODES = ("average", "features")


def invariant_features(x: torch.Tensor, group: PointGroup) -> torch.Tensor:
    """``(r, cos nθ[, sin nθ])`` of 2D points, smooth away from the origin; invariant under ``group``."""
    r = torch.sqrt((x ** 2).sum(dim=1) + 1e-12)
    c1, s1 = x[:, 0] / r, x[:, 1] / r
    c, s = c1, s1
    for _ in range(group.n_rotations - 1):        # angle addition: (c, s) of kθ to (k+1)θ
        c, s = c * c1 - s * s1, s * c1 + c * s1
    feats = [r, c] if group.reflections else [r, c, s]
    return torch.stack(feats, dim=1)


class EquivariantEBM(Energy):
    """A group-invariant energy on 2D points; ``base`` is the energy being symmetrised (mode "average")."""

    def __init__(self, group: PointGroup, base: Energy | None = None, mode: str = "average",
                 hidden: int = 128, depth: int = 2, activation: str = "silu"):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.group = group
        if mode == "average":
            self.base = base if base is not None else SimpleEBM(2, hidden, depth, activation)
        else:
            if base is not None:
                raise ValueError("mode 'features' builds its own MLP on invariant features; pass no base")
            self.base = SimpleEBM(3, hidden, depth, activation)   # (r, cos nθ, sin nθ or 0)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "average":
            orbit = self.group.orbit(x)                               # (order, n, 2)
            e = self.base(orbit.reshape(-1, 2)).reshape(self.group.order, x.shape[0])
            return e.mean(dim=0)
        feats = invariant_features(x, self.group)
        if feats.shape[1] == 2:
            feats = nn.functional.pad(feats, (0, 1))
        return self.base(feats)
