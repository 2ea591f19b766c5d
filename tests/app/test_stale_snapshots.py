"""A snapshot the engine made before it read the latest knob change is held back briefly, so the
browser draws the knob's answer next instead of a frame the knob no longer shows."""
from __future__ import annotations

import time

import app.session as session_module
from app.session import LabSession
from ebm_engine.runtime.runner import InlineRunner
from tests.app.stub_session import RecordingSink


class QueueRunner:
    """A runner whose snapshots the test puts in by hand, as an engine process would send them."""

    def __init__(self):
        self.queued: dict[str, dict] = {}
        self.knob_changes_sent: dict[str, int] = {}
        self.opened = {}

    def open(self, job_id, kind, config=None, knobs=None):
        self.knob_changes_sent[job_id] = 0

    def set_knobs(self, job_id, **knobs):
        self.knob_changes_sent[job_id] += 1

    def poll(self):
        out, self.queued = self.queued, {}
        return out


def snapshot(step: int, knob_changes: int) -> dict:
    return {"step": step, "status": {"state": "playing", "knob_changes": knob_changes}}


def test_a_frame_made_before_the_knob_change_waits_for_the_answer():
    runner, sink = QueueRunner(), RecordingSink()
    session = LabSession(runner=runner)
    session.attach("job", "sampler", sink)
    runner.queued["job"] = snapshot(1, 0)
    session.drain()
    assert [s["step"] for s in sink.shown] == [1]
    session.set_knobs("job", temperature=2.0)
    runner.queued["job"] = snapshot(2, 0)          # on its way before the engine read the change
    session.drain()
    assert [s["step"] for s in sink.shown] == [1]  # held back
    runner.queued["job"] = snapshot(3, 1)          # the answer replaces it
    session.drain()
    assert [s["step"] for s in sink.shown] == [1, 3]


def test_a_held_frame_is_shown_when_no_answer_comes_in_time(monkeypatch):
    monkeypatch.setattr(session_module, "STALE_HOLD_S", 0.05)
    runner, sink = QueueRunner(), RecordingSink()
    session = LabSession(runner=runner)
    session.attach("job", "sampler", sink)
    session.set_knobs("job", temperature=2.0)
    runner.queued["job"] = snapshot(1, 0)
    session.drain()
    assert sink.shown == []
    time.sleep(0.06)
    session.drain()                                # no new snapshot: the held one after the hold
    assert [s["step"] for s in sink.shown] == [1]


def test_only_the_job_whose_knob_moved_waits():
    runner, first, second = QueueRunner(), RecordingSink(), RecordingSink()
    session = LabSession(runner=runner)
    session.attach("a", "sampler", first)
    session.attach("b", "sampler", second)
    session.set_knobs("a", temperature=2.0)
    runner.queued.update(a=snapshot(1, 0), b=snapshot(1, 0))
    session.drain()
    assert first.shown == [] and [s["step"] for s in second.shown] == [1]


def test_the_engine_counts_the_knob_changes_it_has_read_and_the_runner_those_it_sent():
    runner = InlineRunner()
    runner.open("c", "sampler", {"resolution": 16})
    runner.host.tick()
    assert dict(runner.host.drain())["c"]["status"]["knob_changes"] == 0
    runner.set_knobs("c", temperature=1.5)
    runner.set_knobs("c", temperature=1.7)
    runner.host.tick()
    assert dict(runner.host.drain())["c"]["status"]["knob_changes"] == 2 == runner.knob_changes_sent["c"]
    runner.restart()                               # re-opened with its knobs: both counts start again
    runner.host.tick()
    assert dict(runner.host.drain())["c"]["status"]["knob_changes"] == 0 == runner.knob_changes_sent["c"]
