"""Frame pacing: while the browser has not applied the last frame, the session holds snapshots back
and then shows only the newest; recorders still see every snapshot."""
import time

import panel as pn

from app.live.frame_pacer import FramePacer
from app.session import LabSession
from tests.app.stub_session import RecordingSink


class SwitchPacer:
    def __init__(self):
        self.open, self.frames = True, 0

    def ready(self):
        return self.open

    def sent(self):
        self.frames += 1


def test_snapshots_wait_for_the_browser_and_the_newest_is_shown():
    pacer, sink, heard = SwitchPacer(), RecordingSink(), []
    session = LabSession(inline=True, pacer=pacer)
    session.listeners.append(lambda job_id, snap: heard.append(snap.get("step")))
    session.attach("chains", "sampler", sink, config={"resolution": 16})
    session.runner.host.settle_s = 0.0      # the knob rests at once: training does not yield to it
    session.runner.set_knobs("chains", speed=2000.0)
    session.drain()
    assert len(sink.shown) == 1 and pacer.frames == 1
    session.command("chains", "play")
    pacer.open = False                      # the browser is still busy with the last frame
    for _ in range(5):
        time.sleep(0.002)
        session.drain()
    assert len(sink.shown) == 1 and pacer.frames == 1
    assert len(heard) >= 5                  # recorders (the GIF export) miss nothing
    pacer.open = True
    session.drain()
    assert len(sink.shown) == 2 and pacer.frames == 2
    assert sink.shown[-1]["step"] >= heard[-2]   # the newest snapshot, not the oldest waiting one


def test_frame_pacer_waits_for_the_answer_and_not_forever():
    pacer, answered = FramePacer(stall_s=0.2, in_flight=2), []
    pacer.on_answer = lambda: answered.append(pacer.in_flight)
    assert pacer.ready()
    pacer.sent()
    assert pacer.ready()                       # one frame may be on its way while the next is sent
    pacer.sent()
    assert pacer.in_flight == 2 and not pacer.ready()
    pacer.ack.value = pacer.frame.value       # what the browser's callback does
    assert pacer.ready() and answered == [0]  # the answer sends what waits at once
    pacer.sent()
    pacer.sent()
    time.sleep(0.25)
    assert pacer.ready()                       # unanswered frames do not hold the page back


def test_frame_answers_do_not_mark_the_server_busy():
    """An answer arrives with every frame of every tab: it skips Panel's busy bookkeeping, which an
    ordinary widget change goes through."""
    pacer = FramePacer()
    counted = []
    watcher = pn.state.param.watch(lambda event: counted.append(event.new), "_busy_counter")
    try:
        pacer.ack._process_events({"value": 1})
        assert pacer.ack.value == 1 and pacer.in_flight == -1
        assert counted == []
        ordinary = pn.widgets.IntInput(value=0)
        ordinary._process_events({"value": 1})
        assert ordinary.value == 1 and counted        # what the answer skips
    finally:
        pn.state.param.unwatch(watcher)
