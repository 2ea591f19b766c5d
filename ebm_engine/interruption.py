"""Cooperative interruption: slow work gives way when the engine has a command waiting.

The engine reads commands between ticks. A readout of 100-300 ms (log Z on a grid, held-out NLL, a
metrics table) computed while a slider moves would hold the slider's change back that long. Inside
``interruptible(probe)``, batched evaluations call ``check_interrupted()`` between batches; it raises
``Interrupted`` when ``probe()`` says a command is waiting. The caller drops the readout and
computes it again later (``Job.readout``). Outside such a block ``check_interrupted`` does nothing.

A slice of a long training iteration (``Job.advance_slice``) ends early instead: inside
``slices_end_early(probe)``, ``slice_should_end()`` tells a slicing loop to stop after its current
step. Nothing is dropped; the iteration goes on with its next slice.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

_local = threading.local()   # per thread: the probe of readouts ("readout") and of slices ("slice")


class Interrupted(Exception):
    """A command is waiting: the computation in progress was abandoned."""


@contextmanager
def _probing(kind: str, probe: Callable[[], bool] | None) -> Iterator[None]:
    previous = getattr(_local, kind, None)
    setattr(_local, kind, probe)
    try:
        yield
    finally:
        setattr(_local, kind, previous)


def _command_waiting(kind: str) -> bool:
    probe = getattr(_local, kind, None)
    return probe is not None and probe()


def interruptible(probe: Callable[[], bool] | None):
    """Let the computations inside give way when ``probe()`` is true (``None``: never)."""
    return _probing("readout", probe)


def check_interrupted() -> None:
    """Raise ``Interrupted`` inside an ``interruptible`` block whose probe reports a waiting command."""
    if _command_waiting("readout"):
        raise Interrupted


def slices_end_early(probe: Callable[[], bool] | None):
    """Let the slicing loops inside stop after their current step when ``probe()`` is true."""
    return _probing("slice", probe)


def slice_should_end() -> bool:
    """Whether a slicing loop inside ``slices_end_early`` should stop now (a command is waiting)."""
    return _command_waiting("slice")
