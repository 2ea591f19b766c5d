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


def test_an_expensive_refresh_waits_in_proportion_to_its_cost():
    r = Refresh(every_s=0.0, share=0.25)
    r.done(0, seconds=10.0)        # took 10 s: the next one may start 40 s after it started
    assert r.interval() == 40.0
    assert not r.due(1)            # training goes on: 10 s have passed, not 40
    assert r.due(1)                # paused: catch up at once, whatever the cost
    cheap = Refresh(every_s=0.1, share=0.25)
    cheap.done(0, seconds=0.01)
    assert cheap.interval() == 0.1   # a cheap refresh keeps the frame interval
