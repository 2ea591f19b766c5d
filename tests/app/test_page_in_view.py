"""The page in view always runs: hidden pages of the session pause when another page plays, resume when
shown again, and a pinned page keeps training in the background behind the page in view."""
import pytest

from app.device_gate import DeviceGate
from app.session import LabSession
from tests.app.stub_session import RecordingSink
from tests.runtime.fake_jobs import COUNTER


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def engine_state(session, job_id):
    return session.runner.host.slots[job_id].state


def open_session(gate, jobs=("a", "b", "c")):
    session = LabSession(inline=True, gate=gate)
    sinks = {job: RecordingSink() for job in jobs}
    for job in jobs:
        session.attach(job, COUNTER, sinks[job])
    return session, sinks


@pytest.fixture(params=["gate", "no gate"])
def session(request):
    gate = DeviceGate({"*": 4}, time_slice_s=100, clock=Clock()) if request.param == "gate" else None
    session, _ = open_session(gate)
    yield session
    session.stop()


def test_hidden_pages_pause_when_another_page_plays_and_resume_when_shown(session):
    session.show(["a"])
    session.command("a", "play")
    session.drain()
    session.show(["b"])
    session.drain()
    assert engine_state(session, "a") == "playing"      # nothing else plays: the hidden page goes on
    session.command("b", "play")
    session.drain()
    assert engine_state(session, "a") == "paused" and engine_state(session, "b") == "playing"
    steps = session.runner.host.slots["a"].job.step_count
    for _ in range(5):
        session.drain()
    assert session.runner.host.slots["a"].job.step_count == steps    # its state is kept, untouched
    session.show(["a"])                                  # Play is still pressed on it
    session.drain()
    assert engine_state(session, "a") == "playing"
    assert engine_state(session, "b") == "paused"        # a plays again, so the now hidden b waits
    session.show(["b"])
    session.drain()
    assert engine_state(session, "b") == "playing" and engine_state(session, "a") == "paused"


def test_a_pinned_page_keeps_training_in_the_background(session):
    session.show(["c"])
    session.pin("c", True)
    session.command("c", "play")
    session.show(["b"])
    session.command("b", "play")
    for _ in range(3):
        session.drain()
    assert engine_state(session, "c") == "playing" and engine_state(session, "b") == "playing"


def test_a_paused_page_does_not_resume_when_shown(session):
    session.show(["a"])
    session.command("a", "play")
    session.command("a", "pause")
    session.show(["b"])
    session.command("b", "play")
    session.show(["a"])
    session.drain()
    assert engine_state(session, "a") == "paused"


def test_the_page_in_view_takes_the_slot_of_a_pinned_page_on_a_full_device():
    clock = Clock()
    gate = DeviceGate({"*": 1}, time_slice_s=5, clock=clock)
    session, sinks = open_session(gate)
    try:
        session.show(["c"])
        session.pin("c", True)
        session.command("c", "play")
        session.drain()
        session.show(["b"])
        session.command("b", "play")
        session.drain()
        assert engine_state(session, "b") == "playing" and engine_state(session, "c") == "paused"
        assert sinks["c"].shown[-1]["status"]["state"] == "queued"     # it waits for a free slot
        for _ in range(4):
            clock.now += 5                                              # time slices end: b keeps its slot
            session.drain()
            assert engine_state(session, "b") == "playing"
        session.command("b", "pause")
        session.drain()
        assert engine_state(session, "c") == "playing"                 # the freed slot goes to the pinned page
    finally:
        session.stop()


def test_another_sessions_job_is_not_preempted():
    gate = DeviceGate({"*": 1}, time_slice_s=100, clock=Clock())
    first, _ = open_session(gate, jobs=("x",))
    second, sinks = open_session(gate, jobs=("y",))
    try:
        first.show(["x"])
        first.command("x", "play")
        second.show(["y"])
        second.command("y", "play")
        first.drain()
        second.drain()
        assert engine_state(first, "x") == "playing" and engine_state(second, "y") == "paused"
        status = sinks["y"].shown[-1]["status"]
        assert status["state"] == "queued" and status["queued_ahead"] == 0
    finally:
        first.stop()
        second.stop()
