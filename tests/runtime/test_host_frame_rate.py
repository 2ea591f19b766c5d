"""The host keeps a playing job's frames at the frame rate when its steps or slices are long (on a
simulated clock: the frame rate follows from the host's scheduling, not from this machine's speed)."""
import pytest

from ebm_engine.runtime.host import EngineHost
from tests.runtime import fake_jobs
from tests.runtime.fake_jobs import CLOCK, SLOW_STEP


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr("ebm_engine.runtime.host.time", CLOCK)
    return CLOCK


def frames_per_second(clock, config: dict, seconds: float = 6.0) -> float:
    host = EngineHost(max_rate_hz=15.0)
    host.handle("open", "j", (SLOW_STEP, config, {}))
    host.handle("play", "j")
    host.tick()
    host.drain()
    start, frames = clock.now, 0
    while clock.now - start < seconds:
        wait = host.tick()
        frames += len(host.drain())
        clock.sleep(max(wait, 0.0005))   # the engine loop sleeps until work is due
    return frames / (clock.now - start)


def test_whole_steps_of_40_ms_keep_15_frames_a_second(clock):
    """Waiting for the step that would end past the frame's time gave ~12 frames a second."""
    assert frames_per_second(clock, {"step_s": 0.04, "snapshot_s": 0.005}) >= 14.0


def test_slices_of_a_long_iteration_end_in_time_for_the_next_frame(clock):
    """A slice as long as the frame interval, then the snapshot, gave ~12 frames a second."""
    rate = frames_per_second(clock, {"step_s": 0.3, "snapshot_s": 0.01, "sliced": True})
    assert rate >= 14.0


def test_frames_never_come_faster_than_the_frame_rate_allows_by_more_than_half_a_step(clock):
    assert frames_per_second(clock, {"step_s": 0.001, "snapshot_s": 0.0}) <= 15.5


def test_a_slice_is_what_is_left_before_the_next_frame_within_bounds():
    host = EngineHost(max_rate_hz=10.0)
    host.handle("open", "j", (fake_jobs.COUNTER, {}, {}))
    slot = host.slots["j"]
    slot.frame_due, slot.snapshot_cost = 100.1, 0.02
    assert host.slice_for(slot, 100.03) == pytest.approx(0.05)     # due at 100.1, less the snapshot's 20 ms
    assert host.slice_for(slot, 100.09) == pytest.approx(0.025)    # late: a quarter slice still moves training
    assert host.slice_for(slot, 99.0) == pytest.approx(0.1)        # never longer than a slice
