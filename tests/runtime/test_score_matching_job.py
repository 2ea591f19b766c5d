"""The Score Matching job: snapshots, equal time for score matching and CD, knobs, noise ladders."""
import math
import time

import numpy as np
import pytest

from ebm_engine.models.noise_conditional_ebm import NoiseConditionalEBM
from ebm_engine.runtime.jobs.score_matching import ScoreMatchingJob

SMALL = {"n_train": 2000, "n_test": 500, "resolution": 32, "arrow_resolution": 9, "readout_every_s": 0.0,
         "surface_every_s": 0.0, "nll_resolution": 80, "hidden": 64}


@pytest.fixture
def job():
    return ScoreMatchingJob(SMALL, device="cpu")


def test_snapshot_contents(job):
    job.step()
    snap = job.snapshot()
    assert snap["kind"] == "score_matching"
    assert snap["energy"].shape == (32, 32) and snap["cd_density"].shape == (32, 32)
    for field in (snap["learned_field"], snap["true_field"]):
        assert set(field) == {"x", "y", "angle", "magnitude"} and len(field["x"]) == 81
        assert np.isfinite(field["magnitude"]).all()
    assert snap["fisher_map"].shape == (32, 32) and (snap["fisher_map"] >= 0).all()
    assert snap["samples"].shape == (300, 2) and np.isfinite(snap["samples"]).all()
    for key in ("nll_sm", "nll_cd", "fisher_sm", "fisher_cd", "arrow_reference"):
        assert math.isfinite(snap[key]), key
    assert snap["nll_true"] == pytest.approx(2.83, abs=0.1)
    assert snap["ladder"] == [0.1]


def test_true_score_points_towards_the_nearest_mode(job):
    """8gaussians: far outside, the data score points back towards the origin."""
    field = job.snapshot()["true_field"]
    far = np.hypot(field["x"], field["y"]) > 4.0
    inward = np.cos(field["angle"][far] - np.arctan2(-field["y"][far], -field["x"][far]))
    assert (inward > 0.7).all()


def test_both_models_get_the_same_training_time(job):
    for _ in range(40):
        job.step()
    sm, cd = job.seconds["sm"], job.seconds["cd"]
    assert job.trainer.step_count > 0 and job.cd_trainer.step_count > 0
    longest_step = max(sm / job.trainer.step_count, cd / job.cd_trainer.step_count)
    assert abs(sm - cd) <= 3 * longest_step
    assert job.trainer.step_count + job.cd_trainer.step_count == 40


def test_knobs_reach_the_trainer_without_a_restart(job):
    job.step()
    job.set_knobs(method="sliced", sigma=0.3, lr=1e-3, projection="gaussian")
    cfg = job.trainer.config
    assert (cfg.method, cfg.sigma, cfg.lr, cfg.projection) == ("sliced", 0.3, 1e-3, "gaussian")
    assert job.cd_trainer.config.lr == 1e-3
    job.set_knobs(method="exact")
    for _ in range(4):
        job.step()
    assert job.step_count == 5 and job.trainer.step_count >= 2
    with pytest.raises(ValueError):
        job.set_knobs(method="contrastive")


def test_noise_ladder_trains_a_conditional_model_and_samples_by_annealing():
    job = ScoreMatchingJob({**SMALL, "noise_levels": 4}, device="cpu")
    assert isinstance(job.model, NoiseConditionalEBM)
    ladder = job.snapshot()["ladder"]
    assert len(ladder) == 4 and ladder[-1] == pytest.approx(0.1) and ladder == sorted(ladder, reverse=True)
    job.set_knobs(sigma=0.05)
    assert job.model.sigma_min == pytest.approx(0.05)
    for method in ("denoising", "sliced", "exact"):
        job.set_knobs(method=method)
        job.step()
        job.step()
    snap = job.snapshot()
    assert np.isfinite(snap["samples"]).all() and np.isfinite(snap["energy"]).all()


def test_data_without_a_closed_form_density_has_no_true_score():
    job = ScoreMatchingJob({**SMALL, "dataset": "moons"}, device="cpu")
    snap = job.snapshot()
    assert snap["true_field"] is None and snap["true_density"] is None and "fisher_sm" not in snap
    assert math.isfinite(snap["nll_sm"]) and snap["nll_true"] is None


def test_training_reduces_the_fisher_divergence(job):
    before = job.snapshot()["fisher_sm"]
    for _ in range(300):
        job.step()
    after = job.snapshot()["fisher_sm"]
    assert after < 0.6 * before


def test_bad_settings_are_rejected(job):
    with pytest.raises(ValueError, match="noise_levels"):
        job.reset({"noise_levels": 0})
    with pytest.raises(ValueError, match="dataset: does not accept 'nope'"):
        job.reset({"dataset": "nope"})
    assert job.config["dataset"] == "8gaussians"


def test_analytic_targets_are_data_with_an_exact_score():
    job = ScoreMatchingJob({**SMALL, "dataset": "banana"}, device="cpu")
    snap = job.snapshot()
    assert snap["bounds"] == job.data.bounds and snap["true_field"] is not None
    assert snap["nll_true"] == pytest.approx(job.data.true_nll) and math.isfinite(snap["fisher_sm"])
    # the banana's score at its centre line points along -x2 above the curve x2 = b (x1² - s1²)
    field = snap["true_field"]
    above = field["y"] > 0.5 * (field["x"] ** 2 - 1) + 1.0
    assert (np.sin(field["angle"][above]) < 0).all()


def test_a_knob_change_is_answered_before_the_readouts_which_follow_once_it_rests():
    """The snapshot that answers a knob goes out without waiting for the NLL, Fisher and sample
    refresh (~80 ms); the host sends the refresh once the knob has rested, playing or paused."""
    from ebm_engine.runtime.host import EngineHost

    host = EngineHost(max_rate_hz=1e9)
    host.handle("open", "s", ("score_matching", {**SMALL, "readout_every_s": 60.0}, {}))
    host.tick()
    host.drain()
    job = host.slots["s"].job
    for state in ("play", "pause"):
        shown = job.readouts                     # replaced by each refresh
        host.handle(state, "s")
        host.handle("knobs", "s", {"sample_step": 0.005 if state == "play" else 0.01})
        host.tick()
        answer = dict(host.drain())["s"]
        assert answer["knobs"]["sample_step"] == job.knobs["sample_step"] and job.readouts is shown
        time.sleep(host.settle_s + 0.02)
        host.tick()
        host.tick()
        assert job.readouts is not shown and dict(host.drain())["s"]["fisher_sm"] == job.readouts["fisher_sm"]


def test_the_disagreement_map_follows_the_model_between_readouts():
    """The map of ½‖∇log p + ∇E‖² is redrawn with the learned field, not only with the slow readouts."""
    job = ScoreMatchingJob(SMALL, device="cpu")
    job.step()
    first = job.snapshot()
    job.config["readout_every_s"] = 1e9
    for _ in range(5):
        job.step()
    later = job.snapshot()
    assert later["fisher_sm"] == first["fisher_sm"]                # the readout has not been redone
    assert not np.array_equal(later["fisher_map"], first["fisher_map"])
    assert not np.array_equal(later["energy"], first["energy"])
