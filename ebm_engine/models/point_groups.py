"""Finite groups acting on 2D points by orthogonal matrices: rotations C_n, reflections, dihedral D_n.

A group is the list of its elements as ``2 × 2`` matrices, each built exactly from its own angle
(not by multiplying generators, so no rounding accumulates along a product), acting on points
``x (batch, 2)`` by ``x ↦ x Mᵀ``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch


def rotation(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def reflection(angle: float) -> torch.Tensor:
    """Reflection across the line through the origin at ``angle`` (0: the x axis)."""
    c, s = math.cos(2 * angle), math.sin(2 * angle)
    return torch.tensor([[c, s], [s, -c]], dtype=torch.float64)


@dataclass(frozen=True)
class PointGroup:
    """A finite subgroup of O(2): rotations by multiples of 2π/n, optionally with reflections."""

    n_rotations: int
    reflections: bool = False

    def __post_init__(self):
        if isinstance(self.n_rotations, bool) or not isinstance(self.n_rotations, int) or self.n_rotations < 1:
            raise ValueError(f"n_rotations must be a positive int, got {self.n_rotations!r}")

    @property
    def name(self) -> str:
        if self.reflections:
            return f"D{self.n_rotations}" if self.n_rotations > 1 else "reflection"
        return f"C{self.n_rotations}"

    @property
    def order(self) -> int:
        return self.n_rotations * (2 if self.reflections else 1)

    @property
    def has_quarter_turn(self) -> bool:
        """Whether the rotation by π/2 is an element (then an invariant energy's grid is four turned quadrants)."""
        return self.n_rotations % 4 == 0

    def elements(self) -> torch.Tensor:
        """The group's matrices, ``(order, 2, 2)`` float64: rotations first, then reflections."""
        step = 2 * math.pi / self.n_rotations
        mats = [rotation(k * step) for k in range(self.n_rotations)]
        if self.reflections:   # reflections across the lines at k·π/n
            mats += [reflection(k * step / 2) for k in range(self.n_rotations)]
        return torch.stack(mats)

    def orbit(self, x: torch.Tensor) -> torch.Tensor:
        """Every element applied to every point: ``(order, batch, 2)``."""
        if x.dim() != 2 or x.shape[1] != 2:
            raise ValueError(f"point groups act on points of shape (n, 2), got {tuple(x.shape)}")
        mats = _elements_on(self, x.device, x.dtype)
        return torch.einsum("gij,nj->gni", mats, x)


def cyclic(n: int) -> PointGroup:
    """C_n: the rotations by multiples of 2π/n."""
    return PointGroup(n, False)


def dihedral(n: int) -> PointGroup:
    """D_n: C_n together with n reflections (order 2n); ``dihedral(1)`` is a single reflection."""
    return PointGroup(n, True)


@lru_cache(maxsize=64)
def _elements_on(group: PointGroup, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The group's matrices already on ``device``: an energy evaluation copies nothing from the host."""
    return group.elements().to(device=device, dtype=dtype)
