"""What the page tests share: pumping a page's in-process session, waiting on it, and checking
that a page's widget bounds stay inside what its engine job accepts."""
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
    """Every knob widget of ``page_cls`` offers only values ``job_cls`` accepts, and its default is valid."""
    specs = {s.name: s for s in job_cls.KNOBS}
    for name in page_cls.KNOBS:
        p, spec = page_cls.param[name], specs[name]
        values = p.objects if getattr(p, "objects", None) else (list(p.bounds) if getattr(p, "bounds", None) else [])
        if spec.kind in ("float", "int"):
            assert min(values) >= spec.low and max(values) <= spec.high, name
        elif spec.choices:
            assert set(values) <= set(spec.choices), name
        assert spec.validate(p.default) == p.default, name
