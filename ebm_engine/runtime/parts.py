"""Versioned parts of a job's snapshot: each part is made again only when the key it depends on changes.

A job names each part of its payload and the key it depends on where it computes it::

    density = self.parts.part("density", (self.parts.version("energy"), temperature),
                              lambda: self._density(energy, temperature))

The part is made at the first call and again only when the key differs from the one it was last
made with; otherwise the value made then is returned. ``Job.snapshot`` puts the versions of the
parts its payload asked for in ``snapshot["versions"]``, so the app sends a part to the browser only
when its version differs from the one it last sent, without comparing arrays. Every snapshot still
carries every part's current value: snapshots are latest-wins, so one may be dropped on the way.

Versions come from the monotonic clock, strictly increasing within the process: a part made again
by a rebuilt job (a reset, another job kind on the page, an engine restarted after a crash) never
repeats a version a page has already drawn, and the parts of one snapshot never share one (a page
that switches its plot from one part to another sends it).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Hashable

import torch

_last_version = 0


def new_version() -> int:
    """A version no part of this engine has had, larger than any made before on this machine's clock."""
    global _last_version
    _last_version = max(_last_version + 1, time.monotonic_ns())
    return _last_version


class SameObject:
    """A key equal only to a key of the same object, and for a tensor, not written in place since.

    For what changes by being replaced (a chain state, the latest negatives, a set of samples). It
    holds the object, so no new object can take its ``id`` while the key is kept."""

    __slots__ = ("obj", "written")

    def __init__(self, obj: Any):
        self.obj = obj
        self.written = obj._version if isinstance(obj, torch.Tensor) else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SameObject) and other.obj is self.obj and other.written == self.written

    def __hash__(self) -> int:
        return hash((id(self.obj), self.written))


same_object = SameObject   # the key of a part made from an object


class Parts:
    """The parts of one job's snapshots, their keys, values and versions (made anew with the job)."""

    def __init__(self) -> None:
        self._keys: dict[str, Any] = {}
        self._values: dict[str, Any] = {}
        self._versions: dict[str, int] = {}
        self.asked: set[str] = set()   # the parts of the payload being made

    def part(self, name: str, key: Hashable, make: Callable[[], Any]) -> Any:
        """The part ``name``: ``make()`` when it was never made or ``key`` differs from the key it was
        last made with (a new version then), else the value made then."""
        self.asked.add(name)
        if name not in self._versions or self._keys[name] != key:
            self._values[name] = make()
            self._keys[name] = key
            self._versions[name] = new_version()
        return self._values[name]

    def put(self, name: str, value: Any) -> None:
        """A new value of the part ``name``, made elsewhere (a refresh that runs in steps); ``get`` reads it."""
        self._values[name] = value
        self._keys[name] = object()   # equal to no key
        self._versions[name] = new_version()

    def get(self, name: str, default: Any = None) -> Any:
        """The value last ``put`` for ``name`` (``default`` while there is none)."""
        if name not in self._versions:
            return default
        self.asked.add(name)
        return self._values[name]

    def version(self, name: str) -> int | None:
        """The part's current version (None while it was never made): a key for parts made from it."""
        return self._versions.get(name)

    def versions(self) -> dict[str, int]:
        """The versions of the parts asked for since ``asked`` was last cleared."""
        return {name: self._versions[name] for name in self.asked if name in self._versions}
