"""What a plot last sent to the browser, so that an unchanged surface, field or point set is not sent again.

Snapshots arrive 10-20 times a second and carry every array of the page, most of them unchanged
since the last one (a density surface changes with the temperature, not with each sampler step).
Re-sending them costs the server serialisation and the browser decoding and re-drawing; comparing
them here costs microseconds.
"""
from __future__ import annotations

from typing import Any, Hashable

import numpy as np


def same(a: Any, b: Any) -> bool:
    """Equal values: arrays element-wise (NaNs equal), sequences and dicts item by item, else ``==``."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _kept(value: Any) -> Any:
    """A copy of arrays (a job running in this process may reuse its buffers), the value otherwise."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _kept(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_kept(v) for v in value]
    return value


class LastSent:
    """``changed(slot, *values)`` is true (and remembers the values) unless they equal the slot's last ones."""

    def __init__(self) -> None:
        self._last: dict[Hashable, Any] = {}

    def changed(self, slot: Hashable, *values: Any) -> bool:
        if slot in self._last and same(self._last[slot], values):
            return False
        self._last[slot] = _kept(values)
        return True

    def forget(self, slot: Hashable | None = None) -> None:
        """Send the slot (or every slot) again next time."""
        if slot is None:
            self._last.clear()
        else:
            self._last.pop(slot, None)
