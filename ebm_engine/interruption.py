"""Cooperative interruption: a slow readout gives way when the engine has a command waiting.

The engine reads commands between ticks. A readout of 100-300 ms (log Z on a grid, held-out NLL, a
metrics table) computed while a slider moves would hold the slider's change back that long. Inside
``interruptible(probe)``, batched evaluations call ``check_interrupted()`` between batches; it raises
``Interrupted`` when ``probe()`` says a command is waiting. The caller drops the readout and
computes it again later (``Job.readout``). Outside such a block ``check_interrupted`` does nothing.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

_local = threading.local()


class Interrupted(Exception):
    """A command is waiting: the computation in progress was abandoned."""


@contextmanager
def interruptible(probe: Callable[[], bool] | None) -> Iterator[None]:
    """Let the computations inside give way when ``probe()`` is true (``None``: never)."""
    previous = getattr(_local, "probe", None)
    _local.probe = probe
    try:
        yield
    finally:
        _local.probe = previous


def check_interrupted() -> None:
    """Raise ``Interrupted`` inside an ``interruptible`` block whose probe reports a waiting command."""
    probe = getattr(_local, "probe", None)
    if probe is not None and probe():
        raise Interrupted
