"""Live knobs: named, bounded parameters a job reads at every step.

A ``KnobSpec`` declares a knob's type, bounds and default. ``Knobs`` holds current values and
rejects unknown names, wrong types and out-of-range values with a clear ``ValueError``, so the
Python API is as safe as the bounded widgets of the app.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KnobSpec:
    """One live parameter: ``kind`` is 'float', 'int', 'bool' or 'choice'."""

    name: str
    default: Any
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    label: str = ""
    log_scale: bool = False
    help: str = ""

    def validate(self, value: Any) -> Any:
        """Return ``value`` coerced to the knob's type, or raise ``ValueError``."""
        if self.kind == "bool":
            if not isinstance(value, (bool, int)) or value not in (0, 1, True, False):
                raise ValueError(f"{self.name} must be true or false, got {value!r}")
            return bool(value)
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {list(self.choices)}, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.name} must be a number, got {value!r}")
        if self.kind == "int":
            if float(value) != int(value):
                raise ValueError(f"{self.name} must be an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{self.name} must be finite, got {value!r}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(f"{self.name} must lie in [{self.low}, {self.high}], got {value!r}")
        return value


@dataclass
class Knobs:
    """Current values of a set of knobs."""

    specs: dict[str, KnobSpec]
    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_specs(cls, specs: list[KnobSpec], **overrides: Any) -> "Knobs":
        knobs = cls({s.name: s for s in specs}, {s.name: s.default for s in specs})
        knobs.update(**overrides)
        return knobs

    def update(self, **changes: Any) -> dict[str, Any]:
        """Validate all changes first, then apply them together; returns the values that changed."""
        unknown = sorted(set(changes) - set(self.specs))
        if unknown:
            raise ValueError(f"unknown knob(s) {unknown}; known: {sorted(self.specs)}")
        clean = {name: self.specs[name].validate(v) for name, v in changes.items()}
        changed = {name: v for name, v in clean.items() if self.values.get(name) != v}
        self.values.update(clean)
        return changed

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)
