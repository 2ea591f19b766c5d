"""Refresh: recompute at most every interval while steps advance, at once when they stop or on demand."""
import time

from ebm_engine.runtime.refresh import Refresh


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


class Clock:
    """A stand-in for ``time`` whose ``monotonic`` is set by the test."""
    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_refreshes_keep_their_rate_between_snapshots_that_do_not_divide_it(monkeypatch):
    """Snapshots 1/15 s apart and a 0.1 s refresh interval: 10 refreshes a second (some a snapshot
    late), not the 7.5 that counting each interval from the last refresh gives."""
    clock = Clock()
    monkeypatch.setattr("ebm_engine.runtime.refresh.time", clock)
    r = Refresh(every_s=0.1, share=0.25)
    made = 0
    for step in range(15 * 6):                 # six seconds of snapshots while training
        if r.due(step):
            r.done(step, seconds=0.005)
            made += 1
        clock.now += 1 / 15
    assert 59 <= made <= 61
    slow = Refresh(every_s=0.1, share=0.25)    # a refresh that costs 50 ms: at most a quarter of the time
    made = 0
    for step in range(15 * 6):
        if slow.due(step):
            slow.done(step, seconds=0.05)
            made += 1
        clock.now += 1 / 15
    assert 29 <= made <= 31                    # one every 0.2 s


def test_a_clock_timed_refresh_is_due_every_interval_from_its_mark_or_at_once_when_invalidated(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("ebm_engine.runtime.refresh.time", clock)
    r = Refresh(every_s=2.0)
    assert r.elapsed()             # never made
    r.mark(5)
    assert not r.elapsed()
    clock.now += 1.9
    assert not r.elapsed()         # whatever the step: the clock alone
    clock.now += 0.1
    assert r.elapsed()
    r.mark()
    assert not r.elapsed()
    r.invalidate()
    assert r.elapsed()
    never = Refresh(every_s=1e12)  # a headless run's "never": not even the first time
    assert not never.elapsed()
    never.invalidate()
    assert not never.elapsed()
