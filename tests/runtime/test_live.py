"""The live layer (``ebm_engine.runtime.live``): readouts and slices given as steps, driven by the runtime."""
import pytest
import torch

from ebm_engine.metrics.ood import forward_in_batches
from ebm_engine.metrics.partition import log_partition_grid
from ebm_engine.runtime import live
from ebm_engine.runtime.job import Job
from ebm_engine.stepwise import finish
from tests.runtime.fake_jobs import CountingProbe


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x ** 2).sum(dim=1)


BOUNDS = ((-4.0, 4.0), (-4.0, 4.0))


def test_grid_estimators_yield_between_batches_and_a_plain_call_runs_them_whole():
    steps = log_partition_grid.steps(quadratic, BOUNDS, resolution=100)
    taken = 0
    try:
        while True:
            next(steps)
            taken += 1
    except StopIteration as done:
        log_z = done.value
    assert taken == 100 * 100 // 2048              # one step between each two batches of the grid
    assert log_z == pytest.approx(log_partition_grid(quadratic, BOUNDS, resolution=100))
    assert finish(log_partition_grid.steps(quadratic, BOUNDS, resolution=100)) == log_z


def test_a_readout_stops_at_the_first_step_after_a_command_arrives():
    busy = CountingProbe(after=3)
    assert not live.run_unless(log_partition_grid.steps(quadratic, BOUNDS, resolution=100), busy)
    assert busy.calls == 3                         # stopped at the third batch, not at the end
    quiet = CountingProbe(after=10**9)
    assert live.run_unless(log_partition_grid.steps(quadratic, BOUNDS, resolution=100), quiet)


def test_batched_forward_passes_are_steps_and_leave_grad_mode_and_weights_alone_between_them():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    model.logits = model.forward
    x = torch.randn(50, 4)
    steps = forward_in_batches.steps(model, x, batch_size=10)
    next(steps)
    assert torch.is_grad_enabled() and all(p.requires_grad for p in model.parameters()) and model.training
    assert not live.run_unless(steps, CountingProbe(after=1))
    assert forward_in_batches(model, x, batch_size=10).shape == (50, 3)


def test_a_slice_runs_until_its_time_is_up_or_a_command_waits_and_closes_its_steps():
    closed = []

    def counting():
        try:
            for _ in range(1000):
                yield
        finally:
            closed.append(True)

    assert not live.run_for(counting(), 60.0, CountingProbe(after=2)) and closed == [True]
    assert not live.run_for(counting(), 0.0, None) and len(closed) == 2
    assert live.run_for(counting(), None, None) and len(closed) == 3


class SlowReadoutJob(Job):
    """A job whose snapshot carries a grid log Z computed through ``Job.readout``."""

    KIND = "slow-readout"

    def build(self) -> None:
        self.scale = 1.0
        self.log_z = None

    def advance(self) -> None:
        self.scale += 0.5

    def _refresh(self):
        self.log_z = yield from log_partition_grid.steps(lambda x: self.scale * quadratic(x), BOUNDS, resolution=100)

    def payload(self) -> dict:
        self.readout(self._refresh())
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
