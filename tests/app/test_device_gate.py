"""The shared-device gate on its own: slots, FIFO queue, time slices, release, limits from the environment."""
import gc

import pytest

from app.device_gate import DeviceGate, default_limit, parse_limits


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Owner:
    closed = False


@pytest.fixture
def clock():
    return Clock()


def test_full_device_queues_in_order_and_frees_on_release(clock):
    gate = DeviceGate({"cpu": 2}, time_slice_s=100, clock=clock)
    a, b, c, d = Owner(), Owner(), Owner(), Owner()
    assert gate.request(a, "j", "cpu") and gate.request(b, "j", "cpu")
    assert not gate.request(c, "j", "cpu") and not gate.request(d, "j", "cpu")
    assert gate.position(c, "j") == 1 and gate.position(d, "j") == 2
    assert gate.counts("cpu") == (2, 2)
    gate.release(a, "j")
    assert gate.position(c, "j") == 0 and gate.position(d, "j") == 1
    gate.release(d, "j")                      # leaving the queue
    assert gate.position(d, "j") is None and gate.counts("cpu") == (2, 0)


def test_devices_have_separate_slots(clock):
    gate = DeviceGate({"cpu": 1, "cuda": 1}, time_slice_s=100, clock=clock)
    a, b, c = Owner(), Owner(), Owner()
    assert gate.request(a, "j", "cpu")
    assert gate.request(b, "j", "cuda:0")
    assert not gate.request(c, "j", "cuda:0")
    assert gate.limit("cuda:1") == 1 and gate.counts("cuda:1") == (0, 0)


def test_time_slices_let_every_job_progress(clock):
    gate = DeviceGate({"*": 2}, time_slice_s=5, clock=clock)
    owners = [Owner() for _ in range(8)]
    for o in owners:
        gate.request(o, "job", "cpu")
    turns = {id(o): 0 for o in owners}
    for _ in range(40):                       # 40 s in steps of 1 s
        clock.now += 1.0
        for o in owners:
            if gate.position(o, "job") == 0:
                turns[id(o)] += 1
    assert all(t >= 5 for t in turns.values()), turns        # each had at least one whole slice
    assert sum(turns.values()) == 80                          # and the two slots were never idle


def test_no_rotation_while_nobody_waits(clock):
    gate = DeviceGate({"*": 2}, time_slice_s=1, clock=clock)
    a = Owner()
    gate.request(a, "j", "cpu")
    clock.now += 100
    assert gate.position(a, "j") == 0


def test_closed_or_collected_owners_free_their_slots(clock):
    gate = DeviceGate({"*": 1}, time_slice_s=100, clock=clock)
    a, b = Owner(), Owner()
    gate.request(a, "j", "cpu")
    gate.request(b, "j", "cpu")
    a.closed = True
    assert gate.position(b, "j") == 0
    c = Owner()
    gate.request(c, "j", "cpu")
    del b
    gc.collect()
    assert gate.position(c, "j") == 0


def test_release_everything_of_one_owner(clock):
    gate = DeviceGate({"*": 1}, time_slice_s=100, clock=clock)
    a, b = Owner(), Owner()
    gate.request(a, "x", "cpu")
    gate.request(a, "y", "cpu")
    gate.request(b, "x", "cpu")
    assert gate.position(b, "x") == 2
    gate.release(a)
    assert gate.position(b, "x") == 0 and gate.position(a, "y") is None


def test_limits_from_the_environment(monkeypatch):
    assert parse_limits("3") == {"*": 3}
    assert parse_limits("cpu=2, cuda=4,cuda:1=1") == {"cpu": 2, "cuda": 4, "cuda:1": 1}
    for bad in ("zero", "cpu=0", "cpu=-1", "cpu=1.5"):
        with pytest.raises(ValueError, match="EBM_LAB_JOBS_PER_DEVICE"):
            parse_limits(bad)
    monkeypatch.setenv("EBM_LAB_JOBS_PER_DEVICE", "cpu=3")
    monkeypatch.setenv("EBM_LAB_TIME_SLICE_S", "2.5")
    gate = DeviceGate()
    assert gate.limit("cpu") == 3 and gate.limit("cuda:0") == default_limit("cuda:0") and gate.time_slice_s == 2.5
    assert default_limit("cpu") >= 2
    for bad in ("0", "nan", "-1"):
        monkeypatch.setenv("EBM_LAB_TIME_SLICE_S", bad)
        with pytest.raises(ValueError, match="time slice"):
            DeviceGate()


def test_the_page_in_view_takes_the_slot_of_its_own_sessions_hidden_page(clock):
    gate = DeviceGate({"*": 1}, time_slice_s=100, clock=clock)
    a = Owner()
    assert gate.request(a, "hidden", "cpu", foreground=False)
    assert gate.request(a, "shown", "cpu", foreground=True)       # at once, not after the hidden one
    assert gate.position(a, "hidden") == 1


def test_the_page_in_view_waits_behind_other_sessions(clock):
    gate = DeviceGate({"*": 1}, time_slice_s=100, clock=clock)
    a, b = Owner(), Owner()
    assert gate.request(b, "j", "cpu", foreground=False)
    assert not gate.request(a, "shown", "cpu", foreground=True)
    assert gate.position(b, "j") == 0 and gate.position(a, "shown") == 1


def test_the_page_in_view_keeps_its_slot_when_only_its_hidden_pages_wait(clock):
    gate = DeviceGate({"*": 1}, time_slice_s=5, clock=clock)
    a, b = Owner(), Owner()
    gate.request(a, "shown", "cpu", foreground=True)
    gate.request(a, "pinned", "cpu", foreground=False)
    for _ in range(5):
        clock.now += 5
        assert gate.position(a, "shown") == 0 and gate.position(a, "pinned") == 1
    assert gate.request(b, "j", "cpu")            # another session: time slices rotate as before
    assert gate.position(a, "shown") > 0
    clock.now += 5                                # and the page in view comes back before its hidden one
    assert gate.position(a, "shown") == 0 and gate.position(a, "pinned") > 0 and gate.position(b, "j") > 0


def test_a_freed_slot_goes_to_the_page_in_view_before_its_hidden_pages(clock):
    gate = DeviceGate({"*": 1}, time_slice_s=100, clock=clock)
    a, b = Owner(), Owner()
    gate.request(b, "j", "cpu")
    gate.request(a, "pinned", "cpu", foreground=False)
    gate.request(a, "shown", "cpu", foreground=True)
    gate.release(b, "j")
    assert gate.position(a, "shown") == 0 and gate.position(a, "pinned") == 1


def test_changing_the_page_in_view_moves_the_priority(clock):
    gate = DeviceGate({"*": 1}, time_slice_s=100, clock=clock)
    a = Owner()
    gate.request(a, "first", "cpu", foreground=True)
    gate.request(a, "second", "cpu", foreground=False)
    assert gate.position(a, "first") == 0
    gate.set_foreground(a, {"second"})
    assert gate.position(a, "second") == 0 and gate.position(a, "first") == 1
