"""The runner with a real engine process: snapshots arrive, knobs apply, crashes are detected."""
import time

import pytest

from ebm_engine.runtime.runner import ProcessRunner
from tests.runtime.fake_jobs import COUNTER, MODULES


def wait_for(runner, job_id, predicate, timeout=60.0):
    """Poll (never blocking) until a snapshot of ``job_id`` satisfies ``predicate``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        snap = runner.poll().get(job_id)
        if snap is not None and predicate(snap):
            return snap
        time.sleep(0.02)
    raise AssertionError(f"no matching snapshot within {timeout} s; last: {runner.latest.get(job_id)}")


@pytest.fixture
def runner():
    r = ProcessRunner(max_rate_hz=50.0, threads=1)
    yield r
    r.stop()


def test_play_knobs_pause_in_a_separate_process(runner):
    runner.open("c", COUNTER, {"start": 1}, {"increment": 2.0})
    snap = wait_for(runner, "c", lambda s: "total" in s)
    assert snap["total"] == 1.0 and snap["status"]["state"] == "paused"
    assert runner.process.pid is not None and runner.alive
    runner.command("c", "play")
    snap = wait_for(runner, "c", lambda s: s["step"] >= 20)
    assert snap["status"]["steps_per_sec"] > 0
    runner.set_knobs("c", increment=0.0)
    answer = wait_for(runner, "c", lambda s: s["knobs"]["increment"] == 0.0)
    assert answer["status"]["knob_changes"] == runner.knob_changes_sent["c"] == 1
    frozen = answer["total"]
    later = wait_for(runner, "c", lambda s: s["step"] > frozen + 10 and s["knobs"]["increment"] == 0.0)
    assert later["total"] == frozen
    runner.command("c", "pause")
    paused = wait_for(runner, "c", lambda s: s["status"]["state"] == "paused")
    time.sleep(0.3)
    runner.poll()
    assert runner.latest["c"]["step"] == paused["step"]


def test_stop_ends_the_process_within_a_second(runner):
    runner.open("c", COUNTER)
    runner.command("c", "play")
    wait_for(runner, "c", lambda s: s["step"] > 5)
    t0 = time.monotonic()
    runner.stop()
    assert time.monotonic() - t0 < 1.0
    assert not runner.alive and not runner.crashed


def test_a_crashed_engine_is_detected_and_restarted(runner):
    runner.open("c", COUNTER, {"crash_at": 5})
    runner.command("c", "play")
    end = time.monotonic() + 60
    while not runner.crashed and time.monotonic() < end:
        runner.poll()
        time.sleep(0.02)
    assert runner.crashed and runner.exit_code == 3
    runner.command("c", "reset", {"crash_at": -1})   # remembered for the restart
    runner.restart()
    assert runner.alive and runner.restarts == 1
    runner.command("c", "play")
    snap = wait_for(runner, "c", lambda s: s["step"] > 10)
    assert snap["status"]["state"] == "playing"


def test_latest_wins_when_nobody_polls(runner):
    runner.open("c", COUNTER)
    runner.command("c", "play")
    wait_for(runner, "c", lambda s: s["step"] > 0)
    time.sleep(1.5)   # ~75 snapshots produced while nobody reads
    runner.command("c", "pause")
    paused_at = time.time()
    time.sleep(0.3)
    waiting = []
    while True:
        try:
            waiting.append(runner._snapshots.get(timeout=0.05))
        except Exception:
            break
    assert 1 <= len(waiting) <= runner.queue_size + 1   # bounded: old ones were dropped
    oldest = waiting[0][1]
    assert paused_at - oldest["time"] < 0.5             # and what is left is recent


def test_lazy_runner_starts_on_first_poll_and_replays_opens():
    r = ProcessRunner(lazy=True, threads=1)
    try:
        assert r.process is None and not r.alive
        r.open("c", COUNTER, {"start": 4})
        r.set_knobs("c", increment=3.0)
        snap = wait_for(r, "c", lambda s: "total" in s)
        assert snap["total"] == 4.0 and snap["knobs"]["increment"] == 3.0
    finally:
        r.stop()


def test_the_engine_does_not_rerun_a_main_script_that_imports_panel(tmp_path, monkeypatch):
    """Under ``panel serve`` the main module is a script; the engine must not re-run it (and import Panel)."""
    import sys
    import types

    script = tmp_path / "launcher.py"
    script.write_text("import panel\n")
    launcher = types.ModuleType("__main__")
    launcher.__file__, launcher.__spec__ = str(script), None
    monkeypatch.setitem(sys.modules, "__main__", launcher)
    r = ProcessRunner(threads=1)
    try:
        r.open("m", MODULES)
        snap = wait_for(r, "m", lambda s: "imported" in s)
        assert snap["imported"] == []
        assert launcher.__file__ == str(script)      # restored for the parent
    finally:
        r.stop()


def test_the_engine_ends_when_its_server_is_killed(tmp_path):
    """A server killed outright runs no clean-up; its engine must notice and exit, not live on as an orphan."""
    import os
    import signal
    import subprocess
    import sys

    import psutil

    server = tmp_path / "server.py"
    server.write_text(
        "import sys, time\n"
        "from ebm_engine.runtime.runner import ProcessRunner\n"
        "from tests.runtime.fake_jobs import COUNTER\n"
        "r = ProcessRunner(threads=1)\n"
        "r.open('c', COUNTER)\n"
        "r.command('c', 'play')\n"
        "end = time.monotonic() + 60\n"
        "while 'c' not in r.latest and time.monotonic() < end:\n"
        "    r.poll(); time.sleep(0.02)\n"
        "print(r.process.pid, flush=True)\n"
        "time.sleep(600)\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, str(server)], stdout=subprocess.PIPE, text=True, cwd=root,
                            env={**os.environ, "PYTHONPATH": root})
    try:
        engine = psutil.Process(int(proc.stdout.readline()))
        assert engine.is_running()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        engine.wait(timeout=10)   # raises psutil.TimeoutExpired if the engine lives on
        assert not engine.is_running()
    finally:
        proc.kill()


def test_snapshot_signal_is_readable_exactly_while_a_snapshot_waits():
    import select

    runner = ProcessRunner(max_rate_hz=50.0, threads=1, lazy=True)
    try:
        assert runner.snapshot_signal is None                 # a lazy engine has not started
        runner.open("c", COUNTER, {"start": 1})
        runner.poll()                                         # starts it
        generation, fd = runner.snapshot_signal
        assert select.select([fd], [], [], 60)[0] == [fd]     # the opened job's first snapshot
        wait_for(runner, "c", lambda s: "total" in s)
        runner.poll()
        assert select.select([fd], [], [], 0)[0] == []        # polled: nothing waits
        runner.command("c", "step")
        assert select.select([fd], [], [], 60)[0] == [fd]
        runner.restart()
        assert runner.snapshot_signal[0] == generation + 1    # a new queue, a new generation
    finally:
        runner.stop()
    assert runner.snapshot_signal is None


def test_a_snapshot_dropped_from_a_full_queue_is_made_again():
    """A page opened while another job plays gets its first snapshot even when the server fell behind
    and the queue dropped it: the engine makes the lost job a fresh one."""
    import queue as queue_module

    from ebm_engine.runtime.host import EngineHost
    from ebm_engine.runtime.runner import put_latest

    host = EngineHost(max_rate_hz=1e9)
    host.handle("open", "quiet", (COUNTER, {}, {}))
    host.tick()
    q = queue_module.Queue(maxsize=2)
    for job_id, snap in host.drain():
        assert put_latest(q, (job_id, snap)) == []
    lost = []
    for n in range(3):                                  # a busy job fills the queue behind it
        lost += put_latest(q, ("busy", {"n": n}))
    assert lost == ["quiet", "busy"]
    for job_id in lost:
        host.resend(job_id)
    host.tick()
    assert [job_id for job_id, _ in host.drain()] == ["quiet"]   # made again
