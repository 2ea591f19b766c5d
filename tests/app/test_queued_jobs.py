"""Pages behind a full device: 'queued, n ahead', starting by themselves, pausing and closing free the slot."""
import time

import pytest

from app.widgets.status_bar import StatusBar
from app.device_gate import DeviceGate
from app.pages.samplers import SamplersPage
from app.session import LabSession


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def pages(clock):
    gate = DeviceGate({"*": 1}, time_slice_s=5.0, clock=clock)
    sessions = [LabSession(inline=True, gate=gate) for _ in range(3)]
    views = [SamplersPage(s) for s in sessions]
    pump(views)
    yield views
    for s in sessions:
        s.stop()


def pump(views, n=1):
    for _ in range(n):
        for v in views:
            v.session.drain()


def test_second_and_third_play_wait_in_order_and_start_when_the_first_pauses(pages):
    a, b, c = pages
    for v in pages:
        v.play_button.clicks += 1
    pump(pages, 3)
    assert a.state == "playing"
    assert b.state == "queued, 0 ahead" and c.state == "queued, 1 ahead"
    assert b.play_button.label == "Play"                # the full state is in the chip, not the button
    assert "queued, 0 ahead" in b.state_chip.object and 'data-state="queued"' in b.state_chip.object
    steps_b = b.step_count
    pump(pages, 5)
    assert b.step_count == steps_b                     # a queued job does not run
    a.pause_button.clicks += 1
    pump(pages, 3)
    assert a.state == "paused" and b.state == "playing" and c.state == "queued, 0 ahead"
    assert "playing" in b.state_chip.object
    pump(pages, 5)
    assert b.step_count > steps_b


def test_time_slices_rotate_the_slot(pages, clock):
    a, b, c = pages
    for v in pages:
        v.play_button.clicks += 1
    pump(pages, 3)
    seen_playing = set()
    for _ in range(4):
        clock.now += 5.0
        pump(pages, 3)
        seen_playing |= {v.session for v in pages if v.state == "playing"}
        assert sum(v.state == "playing" for v in pages) == 1
    assert len(seen_playing) == 3
    assert all(v.step_count > 0 for v in pages)


def test_closing_a_session_and_leaving_the_queue_free_places(pages):
    a, b, c = pages
    for v in pages:
        v.play_button.clicks += 1
    pump(pages, 3)
    b.pause_button.clicks += 1                         # leaves the queue: c moves up
    pump(pages, 2)
    assert b.state == "paused" and c.state == "queued, 0 ahead"
    a.session.stop()                                   # the tab closed
    pump(pages[1:], 3)
    assert c.state == "playing"


def test_a_job_that_fails_gives_its_slot_back(pages):
    a, b, _ = pages
    a.play_button.clicks += 1
    b.play_button.clicks += 1
    pump(pages, 2)
    a.session.runner.host.slots[a.job_id].job.advance = lambda: 1 / 0
    end = time.monotonic() + 5
    while a.state != "error" and time.monotonic() < end:   # the next step is due 1/speed seconds later
        pump(pages)
        time.sleep(0.01)
    pump(pages, 2)
    assert a.state == "error" and "ZeroDivisionError" in a.alert.object
    assert b.state == "playing"


def test_status_bar_shows_the_queue():
    bar = StatusBar()
    bar.update("Samplers", "queued, 2 ahead", "cpu", 0.0, 3)
    assert 'data-state="queued"' in bar.pane.object and "queued, 2 ahead" in bar.pane.object


def test_no_engine_starts_before_a_browser_connects():
    """A session no browser ever joins (a link preview, a health check) costs no engine process."""
    from ebm_engine.runtime import ProcessRunner

    connected = {"n": 0}
    session = LabSession(runner=ProcessRunner(lazy=True), connections=lambda: connected["n"])
    try:
        for _ in range(3):
            session.drain()
        assert session.runner.process is None
        connected["n"] = 1
        session.drain()
        assert session.runner.process is not None
    finally:
        session.stop()


def test_status_bar_says_when_a_run_continues_a_pretrained_model():
    bar = StatusBar()
    bar.update("Images", "playing", "cpu", 3.0, 1201, None, "pretrained conv_ebm-digits (iteration 1200)")
    assert 'id="ebm-started-from"' in bar.pane.object and "conv_ebm-digits (iteration 1200)" in bar.pane.object
    bar.update("Images", "playing", "cpu", 3.0, 2, None, None)
    assert "ebm-started-from" not in bar.pane.object
