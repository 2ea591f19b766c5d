"""Small jobs for runtime tests: a counter, and one that fails on a chosen step."""
from __future__ import annotations

import os

import param

from ebm_engine.runtime.job import Job
from ebm_engine.runtime.controls import KNOB, Controls


class CounterControls(Controls):
    start = param.Integer(default=0)
    fail_at = param.Integer(default=-1)
    crash_at = param.Integer(default=-1)
    increment = param.Number(default=1.0, bounds=(0.0, 100.0), metadata=KNOB)


class CounterJob(Job):
    """Adds ``increment`` to a total at every step."""

    KIND = "counter"
    CONTROLS = CounterControls

    def build(self) -> None:
        self.total = float(self.config["start"])
        self.recoveries = 0

    def advance(self) -> None:
        if self.step_count + 1 == self.config["crash_at"]:
            os._exit(3)   # simulate a hard crash of the engine process
        if self.step_count + 1 == self.config["fail_at"]:
            raise RuntimeError("boom at step %d" % (self.step_count + 1))
        self.total += self.knobs["increment"]

    def recover(self) -> str:
        self.recoveries += 1
        self.config["fail_at"] = -1
        return "counter kept"

    def payload(self) -> dict:
        return {"total": self.total, "recoveries": self.recoveries}


COUNTER = "tests.runtime.fake_jobs:CounterJob"


class ReadoutJob(CounterJob):
    """A counter whose snapshot carries a slow readout: refreshed in every snapshot, except that a
    refresh waits while a knob is moving (``Job.wait_for_knobs``)."""

    KIND = "readout"

    def build(self) -> None:
        super().build()
        self.readout = None
        self.readouts_made = 0

    def payload(self) -> dict:
        if not (self.readout is not None and self.wait_for_knobs()):
            self.readout = 10 * self.knobs["increment"]
            self.readouts_made += 1
        return {**super().payload(), "readout": self.readout, "readouts_made": self.readouts_made}


READOUT = "tests.runtime.fake_jobs:ReadoutJob"


class ModulesJob(Job):
    """Reports which heavy modules the process hosting it has imported."""

    KIND = "modules"

    def build(self) -> None:
        pass

    def advance(self) -> None:
        pass

    def payload(self) -> dict:
        import sys
        return {"imported": sorted(m for m in ("panel", "bokeh", "holoviews") if m in sys.modules)}


MODULES = "tests.runtime.fake_jobs:ModulesJob"


class Clock:
    """A stand-in for the ``time`` module whose clock only moves when a test (or a job) moves it."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def monotonic(self) -> float:
        return self.now

    perf_counter = monotonic

    def sleep(self, seconds: float) -> None:
        self.now += seconds


CLOCK = Clock()


class SlowStepJob(CounterJob):
    """A counter whose steps take ``step_s`` and snapshots ``snapshot_s`` of ``CLOCK`` time; with
    ``sliced``, an iteration is ``step_s`` of work that the host may run in slices (each overshooting
    its deadline by ``overshoot_s``, as a slice ends only after its current Langevin step)."""

    KIND = "slow_step"

    class CONTROLS(CounterControls):
        step_s = param.Number(default=0.04)
        snapshot_s = param.Number(default=0.005)
        sliced = param.Boolean(default=False)
        overshoot_s = param.Number(default=0.004)

    def build(self) -> None:
        super().build()
        self.work_left = float(self.config["step_s"])

    def advance(self) -> None:
        CLOCK.sleep(float(self.config["step_s"]))
        super().advance()

    def advance_slice(self, seconds: float) -> bool:
        if not self.config["sliced"]:
            self.advance()
            return True
        spent = min(self.work_left, seconds + float(self.config["overshoot_s"]))
        CLOCK.sleep(spent)
        self.work_left -= spent
        if self.work_left > 1e-12:
            return False
        self.work_left = float(self.config["step_s"])
        super().advance()
        return True

    def payload(self) -> dict:
        CLOCK.sleep(float(self.config["snapshot_s"]))
        return super().payload()


SLOW_STEP = "tests.runtime.fake_jobs:SlowStepJob"


class CountingProbe:
    """A probe that reports a waiting command from its ``after``-th call on."""

    def __init__(self, after: int):
        self.after, self.calls = after, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.after
