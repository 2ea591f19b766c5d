import time

from ebm_engine.runtime.host import EngineHost, JobSlot
from tests.runtime.fake_jobs import COUNTER, READOUT


def drain_last(host):
    return dict(host.drain())


def test_play_pause_step_and_knobs():
    host = EngineHost(max_rate_hz=1e9)
    host.settle_s = 0.0       # the knob rests at once: training does not yield to it (tested elsewhere)
    host.handle("open", "c", (COUNTER, {}, {}))
    host.tick()
    assert drain_last(host)["c"]["total"] == 0.0
    host.handle("step", "c")
    host.handle("knobs", "c", {"increment": 5.0})
    host.handle("play", "c")
    host.tick()                                   # the knob's answer, and nothing else
    host.tick()
    host.tick()
    snap = drain_last(host)["c"]
    assert snap["total"] == 11.0 and snap["step"] == 3
    assert snap["status"]["state"] == "playing"
    host.handle("pause", "c")
    host.tick()
    assert drain_last(host)["c"]["step"] == 3


def test_bad_knob_becomes_a_notice_not_an_exception():
    host = EngineHost(max_rate_hz=1e9)
    host.handle("open", "c", (COUNTER, {}, {}))
    host.handle("knobs", "c", {"increment": 1e6})
    host.tick()
    status = drain_last(host)["c"]["status"]
    assert "increment" in status["notice"] and status["state"] == "paused"


def test_exception_in_step_is_reported_and_recovered():
    host = EngineHost(max_rate_hz=1e9)
    host.handle("open", "c", (COUNTER, {"fail_at": 2}, {}))
    host.handle("play", "c")
    host.tick()
    host.tick()
    status = drain_last(host)["c"]["status"]
    assert status["state"] == "error"
    assert "RuntimeError: boom at step 2" in status["error"] and "counter kept" in status["error"]
    assert "Traceback" not in status["error"]
    host.handle("play", "c")
    host.tick()
    snap = drain_last(host)["c"]
    assert snap["status"]["state"] == "playing" and snap["status"]["error"] is None
    assert snap["recoveries"] == 1


def test_open_failure_and_unknown_commands_are_reported():
    host = EngineHost(max_rate_hz=1e9)
    host.handle("open", "x", ("no-such-kind", {}, {}))
    assert "unknown job kind" in drain_last(host)["x"]["status"]["error"]
    host.handle("open", "c", (COUNTER, {"bogus": 1}, {}))
    assert "unknown setting" in drain_last(host)["c"]["status"]["error"]
    host.handle("open", "c", (COUNTER, {}, {}))
    host.handle("explode", "c")
    host.tick()
    assert "unknown command" in drain_last(host)["c"]["status"]["notice"]


def test_snapshots_are_rate_limited_while_playing():
    host = EngineHost(max_rate_hz=2.0)
    host.handle("open", "c", (COUNTER, {}, {}))
    host.handle("play", "c")
    emitted = 0
    for _ in range(50):
        host.tick()
        emitted += len(host.drain())
    assert 1 <= emitted <= 2


def test_a_knob_change_is_answered_at_once_before_the_next_step():
    """While playing, snapshots are rate-limited; a knob change still gets one right away, made
    before the job steps again, so the page shows the new value without waiting for a frame slot."""
    import time

    host = EngineHost(max_rate_hz=0.5)            # one snapshot per 2 s while playing
    host.handle("open", "c", (COUNTER, {}, {}))
    host.handle("play", "c")
    host.tick()
    host.drain()
    time.sleep(host.min_answer_interval)
    host.handle("knobs", "c", {"increment": 7.0})
    assert host.tick() == 0.0                     # answered: the engine sends it before any other work
    answered = drain_last(host)["c"]
    assert answered["knobs"]["increment"] == 7.0
    steps_before = answered["step"]
    assert host.slots["c"].job.step_count == steps_before   # no step in the tick that answered
    host.tick()
    assert host.drain() == [] and host.slots["c"].job.step_count > steps_before   # stepping goes on, rate-limited


def test_knob_answers_of_a_dragged_slider_are_rate_limited():
    host = EngineHost(max_rate_hz=15.0)
    host.handle("open", "c", (COUNTER, {}, {}))
    host.handle("play", "c")
    answered = 0
    for i in range(40):                           # 40 knob messages in a burst
        host.handle("knobs", "c", {"increment": float(i % 10)})
        host.tick()
        answered += len(host.drain())
    assert 1 <= answered <= 3
    assert host.tick() <= host.min_answer_interval   # the last value's answer is due soon


def test_reset_with_new_settings_and_rejected_settings_keep_the_old_ones():
    host = EngineHost(max_rate_hz=1e9)
    host.handle("open", "c", (COUNTER, {"start": 3}, {}))
    host.handle("reset", "c", {"start": 7})
    host.tick()
    assert drain_last(host)["c"]["total"] == 7.0
    host.handle("reset", "c", {"nope": 1})
    host.tick()
    snap = drain_last(host)["c"]
    assert "unknown setting" in snap["status"]["notice"] and snap["config"]["start"] == 7


def test_the_pace_of_a_sliced_job_counts_from_the_start_of_its_iteration():
    from ebm_engine.runtime.job import Job

    class Sliced(Job):
        """Iterations of three slices, at most 10 per second."""
        KIND = "sliced"

        def build(self):
            self.slices = 0

        def advance(self):
            pass

        def advance_slice(self, seconds):
            self.slices += 1
            return self.slices % 3 == 0

        def step_interval(self):
            return 0.1

        def payload(self):
            return {}

    host = EngineHost()
    slot = host.slots["j"] = JobSlot(Sliced())
    host.handle("play", "j")
    host.tick()                                   # the first slice: the iteration starts
    started = slot.iteration_start
    assert started is not None and slot.job.step_count == 0 and slot.next_due <= time.monotonic()
    host.tick()
    host.tick()                                   # the third slice ends the iteration
    assert slot.job.step_count == 1 and slot.iteration_start is None
    assert slot.next_due == started + 0.1         # not 0.1 s after the last slice


def test_readouts_wait_while_a_knob_moves_and_follow_once_it_rests():
    """A knob's answer skips the job's slow readouts (they do not show the knob's effect); while the
    knob keeps moving they keep waiting; once it has rested ``settle_s`` a snapshot brings them."""
    host = EngineHost(max_rate_hz=1e9)
    host.settle_s = 0.2
    host.handle("open", "r", (READOUT, {}, {}))
    host.tick()
    assert drain_last(host)["r"]["readouts_made"] == 1
    for value in (2.0, 3.0, 4.0):                 # a dragged slider, faster than it settles
        host.handle("knobs", "r", {"increment": value})
        time.sleep(host.min_answer_interval)
        host.tick()
        answer = drain_last(host)["r"]
        assert answer["knobs"]["increment"] == value
        assert answer["readouts_made"] == 1 and answer["readout"] == 10.0   # the old readout, not redone
    host.tick()
    assert host.drain() == []                     # paused and the knob still moving: nothing to send
    time.sleep(host.settle_s + 0.02)
    host.tick()
    rested = drain_last(host)["r"]
    assert rested["readouts_made"] == 2 and rested["readout"] == 40.0
    host.tick()
    assert host.drain() == []                     # one follow-up, not one per tick


def test_a_job_that_waited_for_nothing_gets_no_follow_up():
    host = EngineHost(max_rate_hz=1e9)
    host.settle_s = 0.05
    host.handle("open", "c", (COUNTER, {}, {}))
    host.tick()
    host.drain()
    host.handle("knobs", "c", {"increment": 3.0})
    host.tick()
    assert drain_last(host)["c"]["knobs"]["increment"] == 3.0
    time.sleep(host.settle_s + 0.02)
    host.tick()
    assert host.drain() == [] and not host.slots["c"].job.knobs_moving
