"""What the page tests share: pumping a page's in-process session, waiting on it, and checking
that a page's controls are its engine job's declarations."""
from __future__ import annotations

import time


def pump(page, n: int = 1) -> None:
    """Deliver ``n`` rounds of the engine's replies (snapshots, notices) to the page."""
    for _ in range(n):
        page.session.drain()


def wait_until(page, condition, seconds: float = 60.0) -> None:
    """Pump until ``condition()`` holds; fail if it does not within ``seconds``."""
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        pump(page)
        time.sleep(0.01)
    assert condition()


def assert_page_bounds_match_knobs(page_cls, job_cls) -> None:
    """``page_cls`` offers exactly the controls ``job_cls`` declares: the same parameter objects."""
    from ebm_engine.runtime import controls

    declared = controls.declared(job_cls.CONTROLS)
    assert declared and set(declared) <= set(page_cls.param)
    for name, parameter in declared.items():
        assert page_cls.param[name] is parameter, name
    assert set(page_cls.knob_names()) == set(controls.knob_names(job_cls.CONTROLS))
