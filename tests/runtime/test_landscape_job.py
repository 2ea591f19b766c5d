import math

import numpy as np
import pytest
import torch

from ebm_engine.runtime.jobs.energy_landscape import LandscapeJob

SMALL = {"n_train": 2000, "n_test": 500, "resolution": 48, "readout_every_s": 0.0}


@pytest.fixture
def job():
    return LandscapeJob(SMALL, device="cpu")


def test_snapshot_contents(job):
    job.step()
    snap = job.snapshot()
    assert snap["kind"] == "landscape" and snap["step"] == 1
    assert snap["energy"].shape == (48, 48) and snap["density"].shape == (48, 48)
    assert snap["energy"].dtype == np.float32 and np.isfinite(snap["energy"]).all()
    (x0, x1), (y0, y1) = snap["bounds"]
    cell = (x1 - x0) / 48 * (y1 - y0) / 48
    assert snap["density"].sum() * cell == pytest.approx(1.0, abs=1e-3)
    assert snap["negatives"].shape[1] == 2 and snap["data"].shape[1] == 2
    assert list(snap["history"]["step"]) == [1.0]
    assert math.isfinite(snap["log_z_grid"]) and math.isfinite(snap["nll_heldout"])
    assert abs(snap["log_z_mc"] - snap["log_z_grid"]) < 6 * snap["log_z_mc_se"] + 0.05
    assert snap["nll_true"] == pytest.approx(2.83, abs=0.1)


def test_knobs_reach_the_trainer_without_a_restart(job):
    job.step()
    job.set_knobs(lr=1e-2, step_size=0.05, langevin_steps=3, noise=0.5)
    assert job.trainer.optimizer.param_groups[0]["lr"] == 1e-2
    assert job.trainer.config.step_size == 0.05 and job.trainer.config.langevin_steps == 3
    assert job.trainer.config.noise_scale == pytest.approx(0.5 * math.sqrt(0.1))
    job.step()
    assert job.step_count == 2 and job.trainer.step_count == 2


def test_temperature_changes_density_and_log_z(job):
    for _ in range(20):
        job.step()
    cold = job.snapshot()
    job.set_knobs(temperature=3.0)
    hot = job.snapshot()
    assert hot["log_z_grid"] != pytest.approx(cold["log_z_grid"], abs=1e-3)
    assert hot["density_max"] < cold["density_max"]
    assert hot["nll_true"] is None


def test_readouts_interrupted_by_a_waiting_command_keep_the_last_ones(job):
    job.step()
    first = job.snapshot()
    job.set_knobs(temperature=2.0)
    job.command_waiting = lambda: True            # a slider moved again while the readouts ran
    answered = job.snapshot()
    assert answered["log_z_grid"] == first["log_z_grid"] and answered["readout_temperature"] == 1.0
    assert answered["density_max"] < first["density_max"]   # the surface itself follows the knob
    job.command_waiting = lambda: False
    assert job.snapshot()["readout_temperature"] == 2.0


def test_reset_with_another_dataset_and_bad_settings(job):
    job.step()
    job.reset({"dataset": "moons"})
    assert job.step_count == 0 and job.config["dataset"] == "moons"
    with pytest.raises(ValueError, match="dataset: does not accept 'nope'"):
        job.reset({"dataset": "nope"})
    assert job.config["dataset"] == "moons"
    with pytest.raises(ValueError):
        job.set_knobs(step_size=100.0)


def test_huge_step_size_warns_and_stays_finite(job):
    job.set_knobs(step_size=10.0)
    for _ in range(5):
        job.step()
    assert job.warning and "step size" in job.warning
    assert all(torch.isfinite(p).all() for p in job.model.parameters())
    assert np.isfinite(job.snapshot()["energy"]).all()


def test_divergence_rolls_back_to_finite_weights(job):
    for _ in range(3):
        job.step()
    with torch.no_grad():
        job.model.network[0].weight.fill_(float("nan"))
    job.step()
    assert "diverged" in job.warning
    assert all(torch.isfinite(p).all() for p in job.model.parameters())


def test_same_seed_same_run():
    a, b = LandscapeJob(SMALL, device="cpu"), LandscapeJob(SMALL, device="cpu")
    for _ in range(3):
        a.step()
        b.step()
    assert np.array_equal(a.snapshot()["energy"], b.snapshot()["energy"])
