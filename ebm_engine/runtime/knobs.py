"""Live knobs: the current values of a job's knobs, validated by their declarations (``runtime.controls``).

``Knobs`` rejects unknown names, wrong types and out-of-range values with a clear ``ValueError``, so the
Python API is as safe as the bounded widgets of the app.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import param

from ebm_engine.runtime import controls


class Knobs:
    """Current values of the knobs that ``owner`` (a ``Controls`` class) declares."""

    def __init__(self, owner: type[controls.Controls], **overrides: Any):
        self.owner = owner
        self.names = controls.knob_names(owner)
        self.values = controls.defaults(owner, self.names)
        self.update(**overrides)

    def update(self, **changes: Any) -> dict[str, Any]:
        """Validate all changes first, then apply them together; returns the values that changed."""
        clean = controls.checked(self.owner, changes, self.names, what="knob")
        changed = {name: v for name, v in clean.items() if self.values.get(name) != v}
        self.values.update(clean)
        return changed

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True)
class KnobSpec:
    """A knob declared the old way; ``legacy_controls`` turns a job's list of them into ``Controls``."""

    name: str
    default: Any
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    label: str = ""
    log_scale: bool = False
    help: str = ""


def legacy_controls(job_name: str, config: dict[str, Any], specs: list[KnobSpec]) -> type[controls.Controls]:
    """A ``Controls`` class for a job that still lists ``KnobSpec`` knobs and a ``CONFIG`` of defaults."""
    attributes: dict[str, param.Parameter] = {}
    for name, default in config.items():
        kind = {bool: param.Boolean, int: param.Integer, float: param.Number, str: param.String}.get(type(default),
                                                                                                  param.Parameter)
        attributes[name] = kind(default=default)
    for spec in specs:
        meta = controls.LOG_KNOB if spec.log_scale else controls.KNOB
        common = {"label": spec.label or None, "doc": spec.help or None, "metadata": meta}
        if spec.kind == "choice":
            attributes[spec.name] = param.Selector(default=spec.default, objects=list(spec.choices), **common)
        elif spec.kind == "bool":
            attributes[spec.name] = param.Boolean(default=spec.default, **common)
        else:
            kind = param.Integer if spec.kind == "int" else param.Number
            attributes[spec.name] = kind(default=spec.default, bounds=(spec.low, spec.high), **common)
    return type(f"{job_name}Controls", (controls.Controls,), attributes)
