"""Live knobs: the current values of a job's knobs, validated by their declarations (``runtime.controls``).

``Knobs`` rejects unknown names, wrong types and out-of-range values with a clear ``ValueError``, so the
Python API is as safe as the bounded widgets of the app.
"""
from __future__ import annotations

from typing import Any

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

