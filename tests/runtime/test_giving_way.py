"""The engine gives way to a command waiting for it: the host hands its probe to the jobs, training yields
while a knob moves, and a slice of an iteration ends after its current step."""
import time

import torch

from ebm_engine.runtime.host import EngineHost, JobSlot
from ebm_engine.runtime.job import Job
from tests.runtime.fake_jobs import COUNTER


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x ** 2).sum(dim=1)


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
    from ebm_engine.runtime.jobs.jem import JEMJob

    job = JEMJob({"buffer_size": 300}, device="cpu")
    job.command_waiting = lambda: True
    job.step(seconds=60.0)                        # a minute's slice, cut after one SGLD step
    chains = job.trainer.in_flight[1]
    assert job.step_count == 0 and chains.steps_done == 1
    assert all(p.requires_grad for p in job.model.parameters())   # the weights are no longer frozen
    job.command_waiting = lambda: False
    job.step(seconds=60.0)                        # no command: the slice runs to the iteration's end
    assert job.step_count == 1


def test_the_host_cuts_slices_short_for_a_waiting_command_but_not_a_whole_step():
    from ebm_engine.runtime.jobs.jem import JEMJob

    host = EngineHost(max_rate_hz=1e9)
    host.slice_s = 60.0
    host.commands_waiting = lambda: True
    host.handle("open", "j", ("jem", {"buffer_size": 300}, {}))
    slot = host.slots["j"]
    assert isinstance(slot.job, JEMJob)
    host.handle("play", "j")
    host.tick()
    assert slot.job.step_count == 0 and slot.job.trainer.in_flight[1].steps_done == 1
    host.handle("step", "j")                      # the Step button: one whole iteration
    assert slot.job.step_count == 1
