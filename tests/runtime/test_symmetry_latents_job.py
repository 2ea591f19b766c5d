"""The Symmetry & Latents job: equivariant vs plain on one sector, live group changes, the latent model."""
import math

import numpy as np
import pytest
import torch

from ebm_engine.runtime.jobs.symmetry_latents import SymmetryLatentsJob, in_sector

SMALL = {"n_train": 3000, "n_test": 500, "resolution": 32, "latent_resolution": 24, "marginal_samples": 16,
         "readout_every_s": 0.0, "surface_every_s": 0.0, "latent_every_s": 0.0, "nll_resolution": 64, "hidden": 64}


@pytest.fixture
def job():
    return SymmetryLatentsJob(SMALL, device="cpu")


def test_sector_is_one_wedge():
    angles = torch.linspace(-math.pi, math.pi, 8001)[:-1]
    x = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    for sectors in (1, 4, 8):
        assert float(in_sector(x, sectors).float().mean()) == pytest.approx(1 / sectors, abs=1e-3)


def test_snapshot_contents(job):
    job.step()
    snap = job.snapshot()
    for key in ("equivariant_density", "plain_density"):
        assert snap[key].shape == (32, 32) and np.isfinite(snap[key]).all()
    assert snap["latent_density"].shape == (24, 24)
    assert snap["latent_of_data"].shape == (600,) and snap["joint_latents"].shape == (snap["joint_samples"].shape[0],)
    assert (np.abs(np.arctan2(snap["subset"][:, 1], snap["subset"][:, 0])) <= math.pi / 8).all()
    assert snap["mass_off_true"] == pytest.approx(7 / 8, abs=2e-3)
    assert snap["invariance_equivariant"] < 1e-5 and snap["invariance_plain"] > 1e-2
    assert snap["group_name"] == "C8" and snap["group_order"] == 8
    assert math.isfinite(snap["nll_latent"]) and snap["marginal_se"] > 0


def test_group_changes_live(job):
    job.step()
    job.set_knobs(group_order=4, reflections=True)
    snap = job.snapshot()
    assert snap["group_name"] == "D4" and snap["group_order"] == 8 and job.step_count == 1
    assert snap["invariance_equivariant"] < 1e-5
    # a C8-invariant density puts exactly 7/8 of its mass off a 1/8 wedge
    job.set_knobs(group_order=8, reflections=False)
    assert job.snapshot()["mass_off_equivariant"] == pytest.approx(7 / 8, abs=2e-3)


def test_equivariant_model_generalises_to_the_unseen_sectors(job):
    for _ in range(60):
        job.step()
    snap = job.snapshot()
    assert snap["mass_off_plain"] < 0.5
    assert snap["nll_equivariant"] < snap["nll_plain"] - 1.0


def test_bad_settings_are_rejected(job):
    with pytest.raises(ValueError, match="dataset: does not accept .moons."):
        job.reset({"dataset": "moons"})
    with pytest.raises(ValueError):
        job.reset({"mode": "nope"})
    with pytest.raises(ValueError):
        job.set_knobs(group_order=0)


def test_a_moving_group_knob_gets_a_coarse_density_at_once_and_the_full_one_at_rest():
    """While the group order moves, the equivariant density comes at half the resolution in the
    knob's answer; once the knob rests it comes at the full resolution. The plain MLP's density does
    not depend on the group and is not drawn again while paused."""
    import time

    from ebm_engine.runtime.host import EngineHost

    host = EngineHost(max_rate_hz=1e9)
    host.handle("open", "s", ("symmetry_latents", SMALL, {}))
    host.tick()
    first = dict(host.drain())["s"]
    res = SMALL["resolution"]
    assert first["equivariant_density"].shape == (res, res)
    host.handle("knobs", "s", {"group_order": 5})
    host.tick()
    answer = dict(host.drain())["s"]
    assert answer["group_name"] == "C5" and answer["equivariant_density"].shape == (res // 2, res // 2)
    assert answer["plain_density"] is first["plain_density"]
    time.sleep(host.settle_s + 0.02)
    host.tick()
    rested = dict(host.drain())["s"]
    assert rested["equivariant_density"].shape == (res, res) and rested["group_name"] == "C5"
    fresh = SymmetryLatentsJob(SMALL, {"group_order": 5}, device="cpu").snapshot()
    np.testing.assert_allclose(rested["equivariant_density"], fresh["equivariant_density"], rtol=1e-5)


def test_the_full_resolution_density_gives_way_to_a_waiting_command_but_the_knobs_answer_does_not():
    """Drawing the full resolution once the knob rests takes 30-100 ms: a command that arrives
    meanwhile is read first, and the half-resolution density of the knob's answer stays until the
    full one is drawn by a later snapshot. The answer itself is never dropped."""
    job = SymmetryLatentsJob(SMALL, device="cpu")
    res = SMALL["resolution"]
    job.snapshot()
    job.command_waiting = lambda: True               # a command is always waiting
    job.knobs_moving = True
    job.set_knobs(group_order=5)
    answer = job.snapshot()
    assert answer["group_name"] == "C5" and answer["equivariant_density"].shape == (res // 2, res // 2)
    job.knobs_moving = False                         # the knob rests, but another command waits
    job.waited_for_knobs = False
    kept = job.snapshot()
    assert kept["equivariant_density"].shape == (res // 2, res // 2)
    assert job.waited_for_knobs                      # the host will send the full one once commands are read
    job.command_waiting = lambda: False
    full = job.snapshot()
    assert full["equivariant_density"].shape == (res, res) and full["group_name"] == "C5"


def test_the_latent_density_is_redrawn_a_group_at_a_time_until_every_group_has_the_weights():
    """After a training step each snapshot renews a group of the latent density's draws with the new
    weights (the readouts, every 2 s, draw them all); once every group has them, it rests."""
    job = SymmetryLatentsJob({**SMALL, "latent_share": 1.0}, device="cpu")   # a roll may follow a roll at once
    job.step()
    first = job.snapshot()
    job.config["readout_every_s"] = 1e9
    job.step()
    rolled = [job.snapshot() for _ in range(job.latent_density.groups)]
    assert all(s["nll_latent"] == first["nll_latent"] for s in rolled)          # no readout in between
    shown = [first["latent_density"]] + [s["latent_density"] for s in rolled]
    assert all(not np.array_equal(a, b) for a, b in zip(shown, shown[1:]))
    assert job.snapshot()["latent_density"] is shown[-1]                       # all groups drawn: it rests
