"""Constraints on samples: feasible sets with their violation, rounding tolerance and projection.

A constraint describes a feasible set for one sample. Every method works per sample: ``x`` has
shape ``(batch, *event_shape)`` and is flattened to ``(batch, d)``, so a violation in one sample
never changes another sample's energy.

- ``violation(x) -> (batch,)``: ``>= 0``, zero exactly on the feasible set. For the geometric sets
  (half-plane, ball, box, orthant) it is the Euclidean distance to the set, so weights are
  comparable across constraints; for the simplex it is ``|Σx - 1| + Σ max(-x_i, 0)``.
- ``satisfied(x) -> bool (batch,)``: violation within rounding tolerance (see ``rounding_tolerance``),
  so that the output of ``project`` always counts as feasible.
- ``project(x) -> x``: the Euclidean projection onto the feasible set (the nearest feasible point).

The energies that enforce constraints (soft penalties, hard walls) are in ``ebm_engine.energies.penalties``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ebm_engine.energies.base import finite_number

__all__ = ["Ball", "Box", "Constraint", "HalfPlane", "NonNegative", "Simplex", "constraint_from_dict",
           "rounding_tolerance"]

_ROUNDING_ULPS = 64.0


def rounding_tolerance(x: torch.Tensor) -> torch.Tensor:
    """Per-sample tolerance ``64 · eps(dtype) · (1 + max_i |x_i|)`` within which a violation is rounding.

    Projections are exact in real arithmetic but land a few ulps off the boundary in floating
    point (``c + r·u`` need not have norm ``<= r`` exactly); this tolerance absorbs that.
    """
    flat = flat_events(x)
    eps = torch.finfo(flat.dtype).eps if flat.is_floating_point() else torch.finfo(torch.float32).eps
    return _ROUNDING_ULPS * eps * (1.0 + flat.detach().abs().amax(dim=1))


def flat_events(x: torch.Tensor) -> torch.Tensor:
    if x.dim() < 1:
        raise ValueError("expected a batch of shape (batch, ...), got a scalar")
    return x.reshape(x.shape[0], -1)


def per_sample_norm(v: torch.Tensor) -> torch.Tensor:
    """Row norms of ``v`` ``(batch, d)`` whose gradient is 0 (not NaN) at zero rows."""
    sq = (v * v).sum(dim=1)
    nonzero = sq > 0
    return torch.where(nonzero, torch.sqrt(torch.where(nonzero, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def _vector(value: float | Sequence[float] | torch.Tensor, name: str) -> tuple[float, ...]:
    """A finite parameter as a tuple of floats (a scalar gives a 1-tuple)."""
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.dim() > 1 or t.numel() == 0:
        raise ValueError(f"{name} must be a number or a non-empty vector, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {t.tolist()}")
    return tuple(float(v) for v in t.reshape(-1))


class Constraint:
    """A feasible set for one sample; subclasses implement ``violation``, ``project``, ``describe`` and ``params``."""

    kind: ClassVar[str]
    convex: bool = True
    _registry: ClassVar[dict[str, type["Constraint"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            Constraint._registry[cls.kind] = cls

    def violation(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """``(batch,)``, ``>= 0``, zero exactly when the sample is feasible; differentiable."""
        raise NotImplementedError

    def project(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The nearest feasible point of each sample, same shape as ``x``."""
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        """A short human-readable description for the UI."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The constructor's arguments (none by default)."""
        return {}

    def satisfied(self, x: torch.Tensor, tol: float | torch.Tensor | None = None) -> torch.Tensor:
        """Bool ``(batch,)``: violation ``<= tol`` (default: ``rounding_tolerance(x)``; pass 0 for exact)."""
        if tol is None:
            tol = rounding_tolerance(x)
        return self.violation(x).detach() <= tol

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data: ``{"kind": ..., **parameters}``."""
        return {"kind": self.kind, **self.params()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Constraint":
        """Rebuild a constraint from ``to_dict`` output (any kind, whichever class it is called on)."""
        data = dict(data)
        kind = data.pop("kind", None)
        if kind not in Constraint._registry:
            raise ValueError(f"unknown constraint kind {kind!r}; known: {sorted(Constraint._registry)}")
        return Constraint._registry[kind](**data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Constraint) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    @staticmethod
    def _on(values: tuple[float, ...], flat: torch.Tensor, name: str, broadcast: bool = True) -> torch.Tensor:
        """A parameter vector on ``flat``'s device and dtype, checked against its dimension."""
        d = flat.shape[1]
        if len(values) != d and not (broadcast and len(values) == 1):
            raise ValueError(f"{name} has {len(values)} entries but samples have dimension {d}")
        return torch.tensor(values, dtype=flat.dtype, device=flat.device)


constraint_from_dict = Constraint.from_dict   # rebuild any constraint from its ``to_dict`` output


class HalfPlane(Constraint):
    """Feasible: ``normal · x <= offset``. Violation: distance ``max(n·x - b, 0) / ‖n‖``."""

    kind = "half_plane"

    def __init__(self, normal: Sequence[float] | torch.Tensor, offset: float):
        self.normal = _vector(normal, "normal")
        self.offset = finite_number(offset, "offset")
        self._norm = math.sqrt(sum(v * v for v in self.normal))
        if self._norm == 0.0:
            raise ValueError("normal must be non-zero")

    def _signed_distance(self, flat: torch.Tensor) -> torch.Tensor:
        n = self._on(self.normal, flat, "normal", broadcast=False)
        return (flat @ n - self.offset) / self._norm

    def violation(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self._signed_distance(flat_events(x)))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        flat = flat_events(x)
        n = self._on(self.normal, flat, "normal", broadcast=False)
        excess = torch.relu(self._signed_distance(flat))
        return (flat - excess[:, None] * (n / self._norm)).reshape(x.shape)

    def describe(self) -> str:
        terms = " + ".join(f"{v:g}·x{i}" for i, v in enumerate(self.normal) if v != 0.0)
        return f"half-plane {terms} ≤ {self.offset:g}"

    def params(self) -> dict[str, Any]:
        return {"normal": list(self.normal), "offset": self.offset}


class Ball(Constraint):
    """Feasible: ``‖x - center‖ <= radius``. Violation: distance ``max(‖x - c‖ - r, 0)``.

    A scalar ``center`` is broadcast to every coordinate.
    """

    kind = "ball"

    def __init__(self, center: float | Sequence[float] | torch.Tensor, radius: float):
        self.center = _vector(center, "center")
        self.radius = finite_number(radius, "radius")
        if self.radius < 0:
            raise ValueError(f"radius must be >= 0, got {self.radius}")

    def violation(self, x: torch.Tensor) -> torch.Tensor:
        flat = flat_events(x)
        return torch.relu(per_sample_norm(flat - self._on(self.center, flat, "center")) - self.radius)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        flat = flat_events(x)
        c = self._on(self.center, flat, "center")
        offset = flat - c
        dist = per_sample_norm(offset)
        outside = dist > self.radius
        scale = self.radius / torch.where(outside, dist, torch.ones_like(dist))
        return torch.where(outside[:, None], c + offset * scale[:, None], flat).reshape(x.shape)

    def describe(self) -> str:
        c = self.center
        center = f"{c[0]:g}" if len(c) == 1 else "(" + ", ".join(f"{v:g}" for v in c) + ")"
        return f"ball ‖x − {center}‖ ≤ {self.radius:g}"

    def params(self) -> dict[str, Any]:
        return {"center": list(self.center), "radius": self.radius}


class Box(Constraint):
    """Axis-aligned box ``[low, high]``: stay ``"inside"`` it, or stay ``"outside"`` its interior.

    Inside: violation is the distance to the box, projection clamps. Outside (non-convex): the
    feasible set is the complement of the open box (its faces count as outside); the violation of
    an interior point is its distance to the nearest face, and projection moves it onto that face.
    A box with zero extent along some axis has an empty interior: everything is outside it, and
    projecting inside it clamps onto it. Scalar bounds are broadcast to every coordinate.
    """

    kind = "box"

    def __init__(self, low: float | Sequence[float] | torch.Tensor, high: float | Sequence[float] | torch.Tensor,
                 mode: str = "inside"):
        self.low = _vector(low, "low")
        self.high = _vector(high, "high")
        if len(self.low) != len(self.high) and 1 not in (len(self.low), len(self.high)):
            raise ValueError(f"low and high have different lengths ({len(self.low)} and {len(self.high)})")
        if any(lo > hi for lo, hi in self._pairs()):
            raise ValueError(f"low must be <= high elementwise, got low={list(self.low)}, high={list(self.high)}")
        if mode not in ("inside", "outside"):
            raise ValueError(f"mode must be 'inside' or 'outside', got {mode!r}")
        self.mode = mode
        self.convex = mode == "inside"

    def _pairs(self) -> list[tuple[float, float]]:
        """``(low, high)`` per coordinate, a scalar bound repeated to the other's length."""
        n = max(len(self.low), len(self.high))
        low = self.low * n if len(self.low) == 1 else self.low
        return list(zip(low, self.high * n if len(self.high) == 1 else self.high))

    def _bounds(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (self._on(self.low, flat, "low").expand(flat.shape[1]),
                self._on(self.high, flat, "high").expand(flat.shape[1]))

    def _depth(self, flat: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances to the 2d faces ``(batch, 2d)`` (low faces first); min > 0 iff strictly inside."""
        return torch.cat([flat - low, high - flat], dim=1), torch.cat([low, high])

    def violation(self, x: torch.Tensor) -> torch.Tensor:
        flat = flat_events(x)
        low, high = self._bounds(flat)
        if self.mode == "inside":
            return per_sample_norm(flat - torch.minimum(torch.maximum(flat, low), high))
        depth, _ = self._depth(flat, low, high)
        return torch.relu(depth.amin(dim=1))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        flat = flat_events(x)
        low, high = self._bounds(flat)
        if self.mode == "inside":
            return torch.minimum(torch.maximum(flat, low), high).reshape(x.shape)
        depth, faces = self._depth(flat, low, high)
        nearest_depth, nearest = depth.min(dim=1)
        inside = nearest_depth > 0
        axis = nearest % flat.shape[1]
        rows = torch.arange(flat.shape[0], device=flat.device)
        moved = flat.clone()
        moved[rows, axis] = torch.where(inside, faces[nearest], flat[rows, axis])
        return moved.reshape(x.shape)

    def describe(self) -> str:
        box = " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in self._pairs())
        return f"{self.mode} box {box}"

    def params(self) -> dict[str, Any]:
        return {"low": list(self.low), "high": list(self.high), "mode": self.mode}


class NonNegative(Constraint):
    """Feasible: every coordinate ``>= 0``. Violation: distance ``‖min(x, 0)‖``."""

    kind = "non_negative"

    def violation(self, x: torch.Tensor) -> torch.Tensor:
        return per_sample_norm(torch.clamp(flat_events(x), max=0.0))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, min=0.0)

    def describe(self) -> str:
        return "x ≥ 0"


class Simplex(Constraint):
    """The probability simplex: ``x_i >= 0`` and ``Σ x_i = 1``.

    Violation: ``|Σx - 1| + Σ max(-x_i, 0)`` (cheap and differentiable, not the distance).
    Projection: the sort-based Euclidean projection (Held et al. 1974; Duchi et al. 2008):
    ``max(x - θ, 0)`` with the threshold ``θ`` that makes the result sum to one.
    """

    kind = "simplex"

    def violation(self, x: torch.Tensor) -> torch.Tensor:
        flat = flat_events(x)
        return (flat.sum(dim=1) - 1.0).abs() + torch.relu(-flat).sum(dim=1)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        flat = flat_events(x)
        u, _ = torch.sort(flat, dim=1, descending=True)
        css = u.cumsum(dim=1) - 1.0
        k = torch.arange(1, flat.shape[1] + 1, device=flat.device, dtype=flat.dtype)
        # The support size rho is the largest k with u_k > (Σ_{j<=k} u_j - 1) / k; k = 1 always qualifies.
        rho = (u - css / k > 0).to(torch.int64).cumsum(dim=1).argmax(dim=1)
        theta = css.gather(1, rho[:, None]) / (rho[:, None] + 1).to(flat.dtype)
        return torch.clamp(flat - theta, min=0.0).reshape(x.shape)

    def describe(self) -> str:
        return "probability simplex (x ≥ 0, Σx = 1)"
