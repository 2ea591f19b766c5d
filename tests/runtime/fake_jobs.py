"""Small jobs for runtime tests: a counter, and one that fails on a chosen step."""
from __future__ import annotations

import os

from ebm_engine.runtime.job import Job
from ebm_engine.runtime.knobs import KnobSpec


class CounterJob(Job):
    """Adds ``increment`` to a total at every step."""

    KIND = "counter"
    CONFIG = {"start": 0, "fail_at": -1, "crash_at": -1}
    KNOBS = [KnobSpec("increment", 1.0, low=0.0, high=100.0)]

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
