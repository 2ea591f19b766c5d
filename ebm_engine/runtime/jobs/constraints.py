"""Constraints job: chains on a base energy plus per-sample constraint penalties, edited live.

The constraint list arrives as plain data (``{"kind": ..., parameters, "weight": w}``) so the app
can send it across the process boundary. Weights change from sliders with no restart; the hard
switch turns every active constraint into a wall (``weight = inf``): MALA and HMC then reject
violating proposals and Langevin projects its moves back.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import param
import torch

from ebm_engine.energies.constraints import constraint_from_dict
from ebm_engine.energies.penalties import ConstrainedEnergy
from ebm_engine.energies.targets import TARGETS
from ebm_engine.runtime.controls import KNOB
from ebm_engine.runtime.jobs.samplers import TRAINED, SamplerControls, SamplerJob
from ebm_engine.runtime.parts import same_object

DEFAULT_CONSTRAINTS = (
    {"kind": "half_plane", "normal": [1.0, 1.0], "offset": 1.5, "weight": 3.0},
    {"kind": "ball", "center": [0.0, 0.0], "radius": 2.0, "weight": 0.0},
    {"kind": "non_negative", "weight": 0.0},
    {"kind": "simplex", "weight": 0.0},
)
MAX_WEIGHT = 1e6


def parse_constraint(item: dict) -> tuple[Any, float]:
    """(constraint, weight) from plain data; the weight must be finite and in [0, MAX_WEIGHT]."""
    data = dict(item)
    weight = float(data.pop("weight", 1.0))
    if not (math.isfinite(weight) and 0.0 <= weight <= MAX_WEIGHT):
        raise ValueError(f"constraint weight must lie in [0, {MAX_WEIGHT:g}], got {weight}")
    return constraint_from_dict(data), weight


class ConstraintsControls(SamplerControls):
    """The Samplers job's controls on a mixture, with the constraints and the hard switch."""

    target = param.Selector(default="mixture", objects=sorted(TARGETS) + [TRAINED], label="Base energy",
                            doc="the energy the constraints are added to")
    constraints = param.Parameter(default=DEFAULT_CONSTRAINTS, precedence=-1,
                                  doc="the constraints as plain data (changed by the page's actions)")
    hard = param.Boolean(default=False, label="Hard constraints (walls)",
                         doc="every active constraint becomes a wall (infinite weight)", metadata=KNOB)


class ConstraintsJob(SamplerJob):
    """A ``SamplerJob`` whose energy is ``base + Σ w_i · penalty_i``."""

    KIND = "constraints"
    CONTROLS = ConstraintsControls
    ACTIONS = ("spawn", "autotune", "set_constraints", "set_weight")

    def build(self) -> None:
        self.items = [parse_constraint(c) for c in self.config["constraints"]]
        super().build()

    def _wrap(self, base) -> ConstrainedEnergy:
        hard = self.knobs["hard"]
        specs = [(c, math.inf if hard and w > 0 else w) for c, w in self.items]
        return ConstrainedEnergy(base, specs)

    def build_target(self) -> None:
        super().build_target()
        self.base_energy = self.energy
        self.energy = self._wrap(self.base_energy)

    def _inside(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` projected inside the walls, when there are any."""
        return self.energy.project(x) if self.energy.has_hard else x

    def _fresh_starts(self, n: int) -> torch.Tensor:
        return self._inside(super()._fresh_starts(n))

    def _rewrap(self) -> None:
        """Rebuild the constrained energy after a change of constraints, weights or hardness."""
        self.energy = self._wrap(self.base_energy)
        self.state = self.kernel.init(self.energy, self._inside(self.state.x))
        self.record.restart()

    def on_knobs(self, changed: dict[str, Any]) -> None:
        super().on_knobs(changed)
        if "hard" in changed:
            self._rewrap()

    def action_set_constraints(self, constraints: list[dict]) -> None:
        self.items = [parse_constraint(c) for c in constraints]
        self.config["constraints"] = tuple(dict(c) for c in constraints)
        self._rewrap()

    def action_set_weight(self, index: int, weight: float) -> None:
        """A new weight; a soft weight that stays soft changes in place, so a compiled sampler keeps its program."""
        if not 0 <= index < len(self.items):
            raise ValueError(f"no constraint number {index}")
        constraint, _ = parse_constraint({**self.items[index][0].to_dict(), "weight": weight})
        old = self.items[index][1]
        self.items[index] = (constraint, float(weight))
        if self.knobs["hard"] or min(old, weight) <= 0:   # hardness or on/off changes: a new energy
            self._rewrap()
            return
        self.energy.set_weight(index, float(weight))
        self.state = self.kernel.init(self.energy, self.state.x)
        self.record.restart()

    def energy_key(self):
        return (same_object(self.energy), tuple(self.energy.weights))

    def _constraints(self) -> dict[str, Any]:
        return {"constraints": [{**c.to_dict(), "weight": w, "label": c.describe(),
                                 "outline": constraint_outline(c, self.bounds)} for c, w in self.items],
                "hard": self.knobs["hard"],
                "n_boxes": sum(1 for c, _ in self.items if c.kind == "box")}

    def payload(self) -> dict[str, Any]:
        out = super().payload()
        parts = self.parts
        # every change of the constraints or the hard switch wraps a new energy (``_rewrap``); weights change in place
        constraints = parts.part("constraints", self.energy_key(), self._constraints)
        violations = parts.part("violations", (parts.version("chains"), parts.version("constraints")),
                                lambda: {"violation_rate": self.energy.violation_rate(self.state.x)})
        return {**out, **constraints, **violations}


def constraint_outline(constraint, bounds) -> dict[str, list[float]]:
    """A polyline tracing the constraint's boundary inside the plotting box (for drawing)."""
    (x0, x1), (y0, y1) = bounds
    p = constraint.to_dict()
    kind = p["kind"]
    if kind == "half_plane":
        (a, b), c = p["normal"], p["offset"]
        if abs(b) > abs(a):
            return {"x": [x0, x1], "y": [(c - a * x0) / b, (c - a * x1) / b]}
        return {"x": [(c - b * y0) / a, (c - b * y1) / a], "y": [y0, y1]}
    if kind == "ball":
        centre = p["center"] if isinstance(p["center"], (list, tuple)) else [p["center"]] * 2
        t = np.linspace(0, 2 * np.pi, 97)
        return {"x": list(centre[0] + p["radius"] * np.cos(t)), "y": list(centre[1] + p["radius"] * np.sin(t))}
    if kind == "box":
        lo, hi = p["low"], p["high"]
        lo = lo if isinstance(lo, (list, tuple)) else [lo] * 2
        hi = hi if isinstance(hi, (list, tuple)) else [hi] * 2
        return {"x": [lo[0], hi[0], hi[0], lo[0], lo[0]], "y": [lo[1], lo[1], hi[1], hi[1], lo[1]]}
    if kind == "non_negative":
        return {"x": [x1, 0.0, 0.0], "y": [0.0, 0.0, y1]}
    if kind == "simplex":
        return {"x": [1.0, 0.0], "y": [0.0, 1.0]}
    return {"x": [], "y": []}
