"""Sampler, race and constraints jobs driven directly (no process, no browser)."""
import math
import time

import numpy as np
import pytest
import torch

from ebm_engine.runtime.host import EngineHost
from ebm_engine.runtime.jobs.constraints import ConstraintsJob, constraint_outline
from ebm_engine.runtime.jobs.energy_landscape import LandscapeJob
from ebm_engine.runtime.jobs.samplers_race import RaceJob
from ebm_engine.runtime.jobs.samplers import TRAINED, SamplerJob
from ebm_engine.samplers.adaptation import DEFAULT_TARGET_ACCEPT

FAST = {"resolution": 32, "diagnostics_every_s": 0.0, "window": 400}


def run(job, n):
    for _ in range(n):
        job.step()
    return job.snapshot()


def test_sampler_snapshot_and_diagnostics():
    job = SamplerJob({**FAST, "target": "gaussian"}, {"n_chains": 16, "step_size": 0.5})
    snap = run(job, 200)
    assert snap["positions"].shape == (16, 2)
    assert len(snap["trails"]["xs"]) == 16 and len(snap["trails"]["xs"][0]) == 24
    d = snap["diagnostics"]
    assert d["n_draws"] == 200 and 0.3 < d["accept_rate_mean"] < 1.0
    assert d["rhat_max"] < 1.1 and d["ess_bulk_min"] > 50
    # the chains' histogram follows the exact marginal (a correlated Gaussian, unit variance)
    centres = (snap["edges_x"][:-1] + snap["edges_x"][1:]) / 2
    mean = (snap["hist_x"] * centres).sum() / snap["hist_x"].sum()
    assert abs(mean) < 0.3
    cell = (snap["grid_x"][1] - snap["grid_x"][0])
    assert snap["marginal_x"].sum() * cell == pytest.approx(1.0, abs=0.01)


def test_knob_changes_restart_the_diagnostics_window_and_resize_chains():
    job = SamplerJob(FAST, {"n_chains": 8})
    run(job, 20)
    job.set_knobs(step_size=0.05)
    assert job.record.n_draws == 0
    job.set_knobs(n_chains=20)
    snap = run(job, 3)
    assert snap["positions"].shape == (20, 2) and snap["n_draws"] == 3
    job.set_knobs(step_size=0.05)      # unchanged value: nothing restarts
    assert job.record.n_draws == 3


@pytest.mark.parametrize("sampler", ["mala", "hmc"])
def test_autotune_moves_the_step_size_knob_to_the_target_acceptance(sampler):
    job = SamplerJob({**FAST, "target": "gaussian"}, {"sampler": sampler, "step_size": 3.0, "n_chains": 64})
    job.act("autotune", steps=300)
    tuned = job.knobs["step_size"]
    assert tuned != 3.0 and job.snapshot()["autotuned_step_size"] == tuned
    d = run(job, 300)["diagnostics"]
    target = DEFAULT_TARGET_ACCEPT[sampler]
    assert abs(d["accept_rate_mean"] - target) < 0.12


def test_autotune_refuses_unadjusted_langevin():
    job = SamplerJob(FAST, {"sampler": "langevin"})
    with pytest.raises(ValueError, match="no acceptance"):
        job.act("autotune")


def test_spawn_places_chains_at_the_clicked_point():
    job = SamplerJob(FAST, {"n_chains": 16})
    job.act("spawn", x=2.0, y=3.0, n=5)
    near = np.linalg.norm(job.snapshot()["positions"] - [2.0, 3.0], axis=1) < 0.3
    assert near.sum() == 5
    with pytest.raises(ValueError):
        job.act("spawn", x=math.nan, y=0.0)
    with pytest.raises(ValueError, match="unknown action"):
        job.act("explode")


def test_huge_langevin_step_resets_and_reports_diverged_chains():
    job = SamplerJob(FAST, {"sampler": "langevin", "step_size": 1000.0, "n_chains": 16})
    snap = run(job, 5)
    assert snap["chains_reset"] > 0 and "diverged" in snap["warning"]
    assert np.isfinite(snap["positions"]).all()


def test_huge_mh_step_rejects_and_warns_without_moving():
    job = SamplerJob(FAST, {"sampler": "hmc", "step_size": 1000.0, "n_chains": 16})
    start = job.state.x.clone()
    snap = run(job, 3)
    assert np.allclose(snap["positions"], start.cpu().numpy()) and snap["warning"]


def test_trained_energy_target_needs_a_landscape_job():
    with pytest.raises(ValueError, match="Energy Landscape"):
        SamplerJob({**FAST, "target": TRAINED})
    landscape = LandscapeJob({"n_train": 500, "n_test": 100, "resolution": 16})
    job = SamplerJob({**FAST, "target": TRAINED}, peers=lambda: {"landscape": landscape})
    assert job.exact is False and np.isfinite(run(job, 3)["positions"]).all()


def test_race_spends_the_same_gradient_budget():
    job = RaceJob({**FAST, "racers": "mala,hmc", "n_chains": 8}, {"budget": 20, "n_leapfrog": 10})
    snap = run(job, 5)
    grads = {r["name"]: r["grad_evals"] for r in snap["racers"]}
    assert grads == {"mala": 100, "hmc": 100}
    assert all(r["diagnostics"]["n_draws"] > 0 for r in snap["racers"])
    with pytest.raises(ValueError, match="racers: does not accept 'mala'"):
        RaceJob({"racers": "mala"})


def test_race_starts_every_sampler_from_the_same_points():
    job = RaceJob({**FAST, "n_chains": 8})
    starts = [r.state.x for r in job.racers]
    assert all(torch.equal(starts[0], s) for s in starts[1:])


def test_race_restarts_runaway_langevin_chains_instead_of_letting_them_diverge_forever():
    """An unadjusted step far too large for banana's tails throws chains out; each is restarted
    (counted, reported) rather than left stuck where every later step diverges."""
    job = RaceJob({**FAST, "racers": "langevin,mala", "n_chains": 16}, {"step_langevin": 0.5})
    snap = run(job, 30)
    langevin = job.racers[0]
    assert langevin.chains_reset > 0 and "ran away" in snap["warning"]
    assert torch.isfinite(langevin.state.x).all() and langevin.state.x.norm(dim=1).max() <= job.escape_radius
    positions = snap["racers"][0]["positions"]
    assert np.isfinite(positions).all()


def test_constraint_weights_change_the_surface_and_hard_walls_hold():
    job = ConstraintsJob(FAST, {"n_chains": 64, "step_size": 0.3})
    soft = job.snapshot()["density"].copy()
    job.act("set_weight", index=1, weight=5.0)            # the ball ‖x‖ ≤ 2
    assert not np.allclose(job.snapshot()["density"], soft)
    job.set_knobs(hard=True)
    for sampler in ("mala", "hmc", "langevin"):
        job.set_knobs(sampler=sampler, step_size=0.3 if sampler != "langevin" else 0.05)
        snap = run(job, 40)
        assert snap["violation_rate"] == 0.0, sampler
        assert np.all(np.linalg.norm(snap["positions"], axis=1) <= 2.0 + 1e-4), sampler


def test_drawn_boxes_and_bad_constraints():
    job = ConstraintsJob(FAST, {"n_chains": 32, "hard": True})
    job.act("set_constraints", constraints=[{"kind": "box", "low": [-1, -1], "high": [1, 1], "mode": "outside",
                                             "weight": 2.0}])
    snap = run(job, 30)
    inside = (np.abs(snap["positions"]) < 1 - 1e-4).all(axis=1)
    assert not inside.any() and snap["constraints"][0]["outline"]["x"][0] == -1
    job.act("set_constraints", constraints=[{"kind": "box", "low": [0, 0], "high": [0, 0], "weight": 5.0}])
    assert np.isfinite(run(job, 5)["positions"]).all()     # a zero-area box does not crash
    with pytest.raises(ValueError, match="weight"):
        job.act("set_weight", index=0, weight=-1.0)
    with pytest.raises(ValueError):
        job.act("set_constraints", constraints=[{"kind": "teapot", "weight": 1.0}])


def test_constraint_outlines_lie_on_the_boundaries():
    from ebm_engine.energies.constraints import Ball, HalfPlane

    box = ((-4, 4), (-4, 4))
    o = constraint_outline(HalfPlane([1.0, 1.0], 1.5), box)
    assert np.allclose(np.add(o["x"], o["y"]), 1.5)
    o = constraint_outline(Ball([0.0, 0.0], 2.0), box)
    assert np.allclose(np.hypot(o["x"], o["y"]), 2.0)


@pytest.mark.parametrize("sampler", ["langevin", "mala", "hmc"])
@pytest.mark.parametrize("temperature", [0.05, 20.0])
def test_temperature_at_its_bounds_keeps_chains_finite(sampler, temperature):
    job = SamplerJob({**FAST, "target": "funnel"}, {"sampler": sampler, "temperature": temperature,
                                                    "n_chains": 16, "step_size": 0.2})
    snap = run(job, 30)
    assert np.isfinite(snap["positions"]).all() and np.isfinite(snap["density"]).all()
    assert snap["density_max"] > 0


def test_race_rounds_in_slices_take_the_same_steps_and_the_host_goes_on_at_once():
    config, knobs = {**FAST, "n_chains": 8}, {"budget": 20, "n_leapfrog": 10, "speed": 0.5}
    whole, sliced = RaceJob(config, knobs), RaceJob(config, knobs)
    for _ in range(3):
        whole.step()
    slices = 0
    while sliced.step_count < 3:
        sliced.step(seconds=1e-9)   # one sampler step per slice
        slices += 1
    assert slices == 3 * (20 + 20 + 2)   # Langevin and MALA 20 steps a round, HMC 2 of 10 leapfrog steps
    for a, b in zip(whole.racers, sliced.racers):
        assert torch.equal(a.state.x, b.state.x) and a.record.grad_evals == b.record.grad_evals
    host = EngineHost()
    host.handle("open", "race", ("race", config, knobs))   # 0.5 rounds per second: 2 s between rounds
    host.slice_s = 1e-9
    host.handle("play", "race")
    for _ in range(42):   # the slices of one round follow each other without the 2 s wait
        host.tick()
    assert host.slots["race"].job.step_count == 1


def wait_compiled(job, steps=400):
    """Step until the page's chains run their compiled program; the path seen at every step."""
    seen = []
    for _ in range(steps):
        job.step()
        seen.append(job.snapshot()["sampler_path"])
        if seen[-1] == "compiled":
            break
        time.sleep(0.01)
    return seen


@pytest.fixture
def pages_compile(monkeypatch):
    """Pages compile in the background, with a tracer that skips code generation (seconds, not tens)."""
    monkeypatch.setenv("EBM_LAB_COMPILE", "auto")
    monkeypatch.setattr("ebm_engine.samplers.compiled.BACKEND", "aot_eager")


@pytest.mark.parametrize("job_class", [SamplerJob, ConstraintsJob, RaceJob])
def test_sampling_pages_swap_to_compiled_chains_and_keep_going(pages_compile, job_class):
    job = job_class(FAST)
    seen = wait_compiled(job)
    assert seen[0] in ("compiling", "compiled") and seen[-1] == "compiled"
    before = job.step_count
    snap = run(job, 20)
    assert snap["step"] == before + 20 and snap["sampler_path"] == "compiled"
    if job_class is RaceJob:   # each racer is charged its own gradients per step, compiled or not
        assert {r.name: r.grads_per_step for r in job.racers} == {"langevin": 1, "mala": 1, "hmc": 10}


def test_compiled_samplers_page_is_still_right_and_reports_eager_when_compiling_is_off():
    job = SamplerJob({**FAST, "target": "gaussian"}, {"n_chains": 16, "step_size": 0.5})
    assert run(job, 2)["sampler_path"] == "eager"   # EBM_LAB_COMPILE=off in the tests


def test_compiled_samplers_page_samples_its_target(pages_compile):
    job = SamplerJob({**FAST, "target": "gaussian"}, {"n_chains": 16, "step_size": 0.5})
    assert wait_compiled(job)[-1] == "compiled"
    job.set_knobs(step_size=0.4)   # a new kernel with the same settings: the same program
    snap = run(job, 300)
    assert snap["sampler_path"] == "compiled"
    d = snap["diagnostics"]
    assert 0.3 < d["accept_rate_mean"] < 1.0 and d["rhat_max"] < 1.1 and d["ess_bulk_min"] > 50


def test_a_soft_weight_change_keeps_the_constraints_energy_and_its_program(pages_compile):
    job = ConstraintsJob(FAST, {"n_chains": 32, "step_size": 0.3})
    assert wait_compiled(job)[-1] == "compiled"
    energy, soft = job.energy, job.snapshot()["density"].copy()
    job.act("set_weight", index=0, weight=7.0)   # the half plane, soft at 3
    assert job.energy is energy and job.energy.weights[0] == 7.0
    snap = run(job, 3)
    assert not np.allclose(snap["density"], soft) and snap["sampler_path"] == "compiled"
    job.act("set_weight", index=0, weight=0.0)   # switched off: a new energy
    assert job.energy is not energy
