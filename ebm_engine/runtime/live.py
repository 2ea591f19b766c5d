"""The live layer: how the engine spreads long work over frames and gives way to the user.

The lower layers know nothing of frames or commands: their long computations come as steps
(``ebm_engine.stepwise``: a readout's batches, a training iteration's Langevin steps). The runtime
drives those steps here, with ``stop`` telling whether a command waits for the engine:

- ``run_unless``: a readout runs to its end, or is dropped as soon as a command waits (a later
  snapshot computes it again, once the knob has rested);
- ``run_for``: a slice of an iteration runs for about the time left before the next frame, and
  ends early, after its current step, when a command waits; the next slice goes on from there.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Generator

Stop = Callable[[], bool] | None


def run_unless(steps: Generator, stop: Stop) -> bool:
    """Run ``steps`` to the end (True), or close them as soon as ``stop()`` says a command waits (False):
    before the first step, and after each."""
    if stop is not None and stop():
        steps.close()
        return False
    for _ in steps:
        if stop is not None and stop():
            steps.close()
            return False
    return True


def run_for(steps: Generator, seconds: float | None, stop: Stop) -> bool:
    """Run ``steps`` for about ``seconds`` (None: to the end), stopping early when ``stop()`` says a
    command waits; True when they ran to the end. The steps are closed when the slice ends."""
    deadline = None if seconds is None else time.perf_counter() + seconds
    try:
        for _ in steps:
            if deadline is not None and (time.perf_counter() >= deadline or (stop is not None and stop())):
                return False
        return True
    finally:
        steps.close()
