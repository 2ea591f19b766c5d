"""Work that comes in steps: a generator that yields between its steps and returns its result.

A long computation (a readout over many batches, the Langevin chains of one training iteration) is
written once, as a generator. A plain call runs it to the end; a live view drives the steps itself
and may stop after any of them (``ebm_engine.runtime.live``). The computation knows nothing of why
or when it is stopped.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import Any, TypeVar

Result = TypeVar("Result")
Steps = Generator[None, None, Result]


def finish(steps: Steps) -> Any:
    """Run ``steps`` to the end and return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def stepwise(steps_fn: Callable[..., Steps]) -> Callable[..., Any]:
    """The generator function ``steps_fn`` as a plain function that runs it to the end; the
    generator function stays reachable as ``.steps`` for callers that drive the steps themselves."""
    @functools.wraps(steps_fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return finish(steps_fn(*args, **kwargs))

    run.steps = steps_fn
    return run
