"""Refresh: recompute at most every interval while steps advance, at once when they stop or on demand."""
import time

from ebm_engine.runtime.jobs.refresh import Refresh


def test_refresh_throttles_while_training_and_catches_up_when_paused():
    r = Refresh(every_s=60.0)
    assert r.due(0)
    r.done(0)
    assert not r.due(0)            # nothing changed
    assert not r.due(1)            # changed, but the interval has not passed and training goes on
    assert r.due(1)                # asked again at the same step: training stopped, catch up now
    r.done(1)
    r.invalidate()
    assert r.due(2)
    r.done(2)
    fast = Refresh(every_s=0.0)
    fast.done(0)
    time.sleep(0.001)
    assert fast.due(1)
