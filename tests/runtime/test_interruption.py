"""Slow readouts give way to a command waiting for the engine (``ebm_engine.interruption``)."""
import time

import pytest
import torch

from ebm_engine.interruption import Interrupted, check_interrupted, interruptible
from ebm_engine.metrics.ood import forward_in_batches
from ebm_engine.metrics.partition import log_partition_grid
from ebm_engine.runtime.host import EngineHost, JobSlot
from ebm_engine.runtime.job import Job
from tests.runtime.fake_jobs import COUNTER


class CountingProbe:
    """A probe that reports a waiting command from its ``after``-th call on."""

    def __init__(self, after: int):
        self.after, self.calls = after, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.after


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x ** 2).sum(dim=1)


def test_check_does_nothing_outside_an_interruptible_block_and_restores_the_outer_probe():
    check_interrupted()
    with interruptible(lambda: False):
        check_interrupted()
        with interruptible(lambda: True), pytest.raises(Interrupted):
            check_interrupted()
        check_interrupted()                       # the outer probe again
    with interruptible(None):
        check_interrupted()


def test_grid_evaluations_check_between_batches():
    bounds = ((-4.0, 4.0), (-4.0, 4.0))
    quiet = CountingProbe(after=10**9)
    with interruptible(quiet):
        log_z = log_partition_grid(quadratic, bounds, resolution=100)
    assert quiet.calls >= 100 * 100 // 2048      # once per batch of the grid
    assert log_z == pytest.approx(log_partition_grid(quadratic, bounds, resolution=100))
    busy = CountingProbe(after=3)
    with interruptible(busy), pytest.raises(Interrupted):
        log_partition_grid(quadratic, bounds, resolution=100)
    assert busy.calls == 3                        # stopped at the third batch, not at the end


def test_batched_forward_passes_check_between_batches():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    model.logits = model.forward
    x = torch.randn(50, 4)
    with interruptible(CountingProbe(after=3)), pytest.raises(Interrupted):
        forward_in_batches(model, x, batch_size=10)
    with interruptible(CountingProbe(after=10**9)):
        assert forward_in_batches(model, x, batch_size=10).shape == (50, 3)


class SlowReadoutJob(Job):
    """A job whose snapshot carries a grid log Z computed through ``Job.readout``."""

    KIND = "slow-readout"

    def build(self) -> None:
        self.scale = 1.0
        self.log_z = None

    def advance(self) -> None:
        self.scale += 0.5

    def _refresh(self) -> None:
        self.log_z = log_partition_grid(lambda x: self.scale * quadratic(x), ((-4, 4), (-4, 4)), resolution=100)

    def payload(self) -> dict:
        self.readout(self._refresh)
        return {"log_z": self.log_z}


def test_an_interrupted_readout_keeps_the_last_value_and_is_made_again_later():
    job = SlowReadoutJob()
    first = job.snapshot()["log_z"]
    job.step()
    job.command_waiting = CountingProbe(after=2)
    assert job.snapshot()["log_z"] == first       # dropped midway: the last complete value stays
    assert job.waited_for_knobs                   # the host sends a follow-up once knobs rest
    job.command_waiting = lambda: False
    assert job.snapshot()["log_z"] < first        # a narrower density: smaller log Z


def test_the_host_hands_its_probe_to_the_jobs_it_opens_and_a_waiting_command_skips_the_snapshot():
    host = EngineHost(max_rate_hz=1e9)
    waiting = [False]
    host.commands_waiting = lambda: waiting[0]
    host.handle("open", "c", (COUNTER, {}, {}))
    assert host.slots["c"].job.command_waiting is host.commands_waiting
    host.handle("play", "c")
    host.tick()
    host.drain()
    waiting[0] = True
    assert host.tick() == 0.0                     # stepped, then went to read the command
    assert host.drain() == [] and host.slots["c"].dirty
    waiting[0] = False
    host.tick()
    assert [job_id for job_id, _ in host.drain()] == ["c"]


class SleepyJob(Job):
    """Each step takes at least ``STEP_S``."""

    KIND = "sleepy"
    STEP_S = 0.03

    def build(self) -> None:
        pass

    def advance(self) -> None:
        time.sleep(self.STEP_S)

    def payload(self) -> dict:
        return {}


def test_training_yields_while_a_knob_moves_and_runs_flat_out_once_it_rests():
    host = EngineHost(max_rate_hz=1e9)
    slot = host.slots["s"] = JobSlot(SleepyJob())
    host.handle("play", "s")
    host.tick()
    assert slot.next_due <= time.monotonic()      # at rest: the next step is due at once
    host.handle("knobs", "s", {})
    host.tick()                                   # the answer
    started = time.monotonic()
    host.tick()                                   # a step while the knob moves
    assert slot.job.step_count == 2
    assert 0.0 < host.knob_training_share < 1.0
    # the step is followed by a pause that keeps training to its share of the time
    assert slot.next_due >= started + SleepyJob.STEP_S / host.knob_training_share - 1e-3


def test_a_slice_of_an_iteration_ends_after_one_step_when_a_command_waits():
    from ebm_engine.interruption import slice_should_end, slices_end_early
    from ebm_engine.runtime.jobs.jem import JEMJob

    assert not slice_should_end()
    job = JEMJob({"buffer_size": 300}, device="cpu")
    with slices_end_early(lambda: True):
        assert slice_should_end()
        job.step(seconds=60.0)                    # a minute's slice, cut after one SGLD step
    chains = job.trainer.in_flight[1]
    assert job.step_count == 0 and chains.steps_done == 1
    with slices_end_early(lambda: False):
        job.step(seconds=60.0)                    # no command: the slice runs to the iteration's end
    assert job.step_count == 1


def test_the_host_cuts_slices_short_for_a_waiting_command_but_not_a_whole_step():
    from ebm_engine.runtime.jobs.jem import JEMJob

    host = EngineHost(max_rate_hz=1e9)
    host.slice_s = 60.0
    host.commands_waiting = lambda: True
    slot = host.slots["j"] = JobSlot(JEMJob({"buffer_size": 300}, device="cpu"))
    host.handle("play", "j")
    host.tick()
    assert slot.job.step_count == 0 and slot.job.trainer.in_flight[1].steps_done == 1
    host.handle("step", "j")                      # the Step button: one whole iteration
    assert slot.job.step_count == 1
