"""Which version of each part a plot last sent to the browser, so that an unchanged part is not sent again.

The engine gives each part of a snapshot a version (``snapshot["versions"]``, ``ebm_engine.runtime.parts``)
that changes whenever its content does: a plot compares versions, never the arrays themselves.
"""
from __future__ import annotations

from typing import Hashable


class SentVersions:
    """``due(slot, version)``: true (and the version remembered) when ``version`` differs from the one last
    sent in ``slot``. A missing version (a snapshot the session made itself) is never due."""

    def __init__(self) -> None:
        self._sent: dict[Hashable, int] = {}

    def due(self, slot: Hashable, version: int | None) -> bool:
        if version is None or self._sent.get(slot) == version:
            return False
        self._sent[slot] = version
        return True
