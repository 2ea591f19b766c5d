"""Energies that enforce constraints: soft penalties ``w · violation`` (or squared), hard walls
(``w = inf``) and ``ConstrainedEnergy``, which adds them to any base energy, per sample."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ebm_engine.energies.base import Energy, Projection
from ebm_engine.energies.constraints import Constraint, flat_events, per_sample_norm, rounding_tolerance

__all__ = ["ConstrainedEnergy", "ConstraintPenalty", "penalty"]


def _check_weight(weight: float) -> float:
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        raise ValueError(f"constraint weight must be a number, got {weight!r}") from None
    if math.isnan(weight) or weight < 0:
        raise ValueError(f"constraint weight must be >= 0 (math.inf for a hard constraint), got {weight}")
    return weight


class ConstraintPenalty(Energy):
    """The energy of one constraint: ``weight · violation(x) ** power``, per sample.

    ``weight = math.inf`` is a hard wall: ``+inf`` where the constraint is violated (beyond
    rounding, see ``Constraint.satisfied``) and exactly ``0`` where it holds, with zero gradient.
    ``weight = 0`` contributes exactly ``0``. The result always stays on the autograd graph of
    ``x``, so ``energy_and_grad`` works on a penalty alone.

    ``base + penalty`` scores hard constraints (``+inf``) but is not a ``ConstrainedEnergy``: for samplers
    to project onto hard constraints, use ``ConstrainedEnergy(base, [(constraint, math.inf)])``.
    """

    def __init__(self, constraint: Constraint, weight: float, power: int = 1):
        super().__init__()
        if not isinstance(constraint, Constraint):
            raise ValueError(f"expected a Constraint, got {type(constraint).__name__}")
        if power not in (1, 2):
            raise ValueError(f"power must be 1 (linear) or 2 (squared), got {power}")
        self.constraint = constraint
        self.power = power
        # a soft weight is read from a tensor, so that a compiled sampler sees a new value without recompiling
        self.register_buffer("scale", torch.zeros(()), persistent=False)
        self.set_weight(weight)

    @property
    def is_hard(self) -> bool:
        return self.mode == "hard"

    @property
    def is_active(self) -> bool:
        return self.mode != "off"

    def set_weight(self, weight: float) -> None:
        self.weight = _check_weight(weight)
        self.mode = "hard" if self.weight == math.inf else "soft" if self.weight > 0 else "off"
        if self.mode == "soft":
            self.scale.fill_(self.weight)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        flat = flat_events(x)
        zero = flat[:, :0].sum(dim=1)  # zeros (batch,) that stay on x's graph, with zero gradient
        if not self.is_active:
            return zero
        if self.is_hard:
            return torch.where(self.constraint.satisfied(x), zero, torch.full_like(zero, math.inf))
        v = self.constraint.violation(x)
        return self.scale.to(v.dtype) * (v if self.power == 1 else v * v)

    def describe(self) -> str:
        how = ("hard" if self.is_hard else "off" if not self.is_active
               else f"weight {self.weight:g}" + (", squared" if self.power == 2 else ""))
        return f"{self.constraint.describe()} ({how})"


penalty = ConstraintPenalty   # for ``base + penalty(Ball(...), 5.0)``


PenaltySpec = tuple[Constraint, float] | tuple[Constraint, float, int]


class ConstrainedEnergy(Energy):
    """``E(x) = base(x) + Σ_i w_i · violation_i(x) ** p_i``, per sample, for any ``Energy`` base.

    ``constraints`` holds ``(constraint, weight)`` or ``(constraint, weight, power)`` entries;
    ``weight = math.inf`` makes a constraint hard and ``0`` switches it off. Weights can change
    live with ``set_weight``. ``project`` maps samples onto the hard constraints' feasible set;
    ``hard_projection`` hands it to samplers while at least one constraint is hard.
    """

    projection_rounds = 50   # at most, for several convex hard constraints (see ``project``)

    def __init__(self, base: Energy, constraints: Sequence[PenaltySpec]):
        super().__init__()
        if not isinstance(base, Energy):
            raise ValueError(f"base must be an Energy, got {type(base).__name__}")
        self.base = base
        self.penalties = torch.nn.ModuleList([ConstraintPenalty(*spec) for spec in constraints])

    @property
    def weights(self) -> list[float]:
        return [p.weight for p in self.penalties]

    @property
    def has_hard(self) -> bool:
        return any(p.is_hard for p in self.penalties)

    def set_weight(self, index: int, weight: float) -> None:
        """Change constraint ``index``'s weight (``math.inf``: hard, ``0``: off); used on the next call."""
        self.penalties[index].set_weight(weight)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        e = self.base(x)
        for p in self.penalties:
            if p.is_active:
                e = e + p(x)
        return e

    def violation_rate(self, x: torch.Tensor) -> float:
        """Share of samples that violate at least one active constraint (beyond rounding)."""
        with torch.no_grad():
            bad = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            for p in self.penalties:
                if p.is_active:
                    bad |= ~p.constraint.satisfied(x)
        return float(bad.float().mean()) if x.shape[0] else 0.0

    def hard_projection(self) -> Projection | None:
        return self.project if self.has_hard else None

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Project each sample onto the hard constraints (soft ones are ignored); ``x`` if none.

        One convex hard constraint: its exact projection. Several convex ones: Dykstra's
        alternating projections (up to ``projection_rounds`` rounds, stopping once the iterate is
        feasible and stable), which converge to the nearest point of the intersection; the result
        satisfies them to tolerance, the last one exactly. Non-convex ones (outside a box) are
        projected last, in order, so they hold exactly but may push a point off a convex set.
        """
        hard = [p.constraint for p in self.penalties if p.is_hard]
        convex = [c for c in hard if c.convex]
        if len(convex) == 1:
            x = convex[0].project(x)
        elif convex:
            x = self._dykstra(convex, x)
        for c in hard:
            if not c.convex:
                x = c.project(x)
        return x

    def _dykstra(self, convex: list[Constraint], x: torch.Tensor) -> torch.Tensor:
        increments = [torch.zeros_like(x) for _ in convex]
        for _ in range(self.projection_rounds):
            start = x
            for i, c in enumerate(convex):
                y = c.project(x + increments[i])
                increments[i] = x + increments[i] - y
                x = y
            tol = rounding_tolerance(x)
            moved = per_sample_norm(flat_events(x - start))
            if (moved <= tol).all() and all(bool(c.satisfied(x, tol).all()) for c in convex):
                break
        return x

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.penalties)
