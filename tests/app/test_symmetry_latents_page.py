"""The Symmetry & Latents page without a browser: in-process runner, real job, real Bokeh sources."""
import pytest

from app.pages.symmetry_latents import SymmetryLatentsPage
from tests.app.page_helpers import assert_page_bounds_match_knobs
from app.session import LabSession
from ebm_engine.runtime.jobs.symmetry_latents import SymmetryLatentsJob

SMALL = {"n_train": 2000, "n_test": 500, "resolution": 32, "latent_resolution": 24, "marginal_samples": 16,
         "readout_every_s": 0.0, "surface_every_s": 0.0, "nll_resolution": 64, "hidden": 64}


def pump(page, n=1):
    for _ in range(n):
        page.session.drain()


@pytest.fixture
def sym_page():
    session = LabSession(inline=True)
    p = SymmetryLatentsPage(session)
    session.runner.command(p.job_id, "reset", SMALL)
    pump(p)
    return p


def test_first_snapshot_fills_every_plot_and_readout(sym_page):
    page = sym_page
    assert page.equivariant.image.data["image"][0].shape == (32, 32)
    assert page.plain.image.data["image"][0].shape == (32, 32)
    assert len(page.equivariant.points.data["x"]) > 50
    assert page.marginal.image.data["image"][0].shape == (24, 24)
    assert len(page.marginal.colored.data["value"]) == 600
    assert len(page.joint.colored.data["value"]) > 0
    for key in ("mass_off_equivariant", "mass_off_plain", "nll_equivariant", "nll_plain",
                "invariance_equivariant", "invariance_plain"):
        assert page.symmetry_readouts.values[key] != "–", key
    assert page.latent_readouts.values["nll_latent"] != "–"
    assert "(C8)" in page.equivariant.figure.title.text


def test_group_order_and_reflections_change_the_group_live(sym_page):
    page = sym_page
    page.play_button.clicks += 1
    pump(page, 2)
    page.group_order = 4
    page.reflections = True
    pump(page)
    assert "(D4)" in page.equivariant.figure.title.text
    assert page.symmetry_readouts.values["group_order"] == "8"
    assert page.step_count == 2   # kept counting (the last pump only answered the knobs)


def test_training_sector_setting_resets(sym_page):
    page = sym_page
    page.play_button.clicks += 1
    pump(page, 2)
    page.sectors = 4
    pump(page)
    assert page.step_count == 0 and page.last_snapshot["config"]["sectors"] == 4


def test_the_page_controls_are_the_jobs_declarations():
    assert_page_bounds_match_knobs(SymmetryLatentsPage, SymmetryLatentsJob)


def test_the_page_loads_checkpoints_made_by_the_cli(tmp_path, monkeypatch):
    """An equivariant_ebm and a latent_ebm file from the CLI load into the matching energies of the page."""
    import torch

    from ebm_engine.checkpoints import load_checkpoint
    from ebm_engine.cli import main

    monkeypatch.setenv("EBM_LAB_CHECKPOINTS", str(tmp_path))
    small = ["--set", "n_train=500", "--set", "n_test=200", "--set", "hidden=16", "--quiet"]
    for model in ("equivariant_ebm", "latent_ebm"):
        assert main(["train", model, "--data", "rings", "--steps", "2", "--out", str(tmp_path / f"{model}.pt"),
                     *small]) == 0
    session = LabSession(inline=True)
    page = SymmetryLatentsPage(session)
    session.runner.command(page.job_id, "reset", SMALL)
    pump(page)
    options = set(page.checkpoints.select.options.values())
    assert {"equivariant_ebm", "latent_ebm"} <= options
    job = session.runner.host.slots[page.job_id].job
    for model, parts in (("equivariant_ebm", ("equivariant", "plain")), ("latent_ebm", ("latent",))):
        page.checkpoints.select.value = model
        page.checkpoints.load_button.clicks += 1
        pump(page, 2)
        assert f"Loaded {model}" in page.checkpoints.message.object, page.checkpoints.message.object
        state, _ = load_checkpoint(tmp_path / f"{model}.pt")
        modules = {"equivariant": job.equivariant, "plain": job.plain, "latent": job.latent}
        mine = {f"{name}.{key}": value for name, module in modules.items()
                for key, value in module.state_dict().items()}
        for key in (k for k in state if k.split(".")[0] in parts):
            assert torch.equal(mine[key], state[key]), key
    assert job.config["dataset"] == "rings" and job.config["hidden"] == 16
    assert job.model_name() == "symmetry_latent_ebms"   # the page goes on training all three
    assert page.last_snapshot["config"]["dataset"] == "rings"
    session.stop()


def test_start_from_pretrained_loads_the_three_trained_energies(sym_page):
    from ebm_engine.checkpoint_store import ASSETS_FOLDER
    from ebm_engine.checkpoints import load_checkpoint

    page = sym_page
    page.checkpoints.pretrained_button.clicks += 1
    pump(page, 2)
    _, header = load_checkpoint(ASSETS_FOLDER / "symmetry_latent_ebms-8gaussians.pt")
    assert "Loaded pretrained:symmetry_latent_ebms-8gaussians" in page.checkpoints.message.object
    assert page.step_count == header["step"] == 800
    assert page.last_snapshot["config"]["hidden"] == header["model_args"]["hidden"] == 64
    readouts = page.last_snapshot
    assert readouts["nll_equivariant"] < readouts["nll_plain"] - 2   # trained on one sector, the invariant one wins
    assert readouts["mass_off_equivariant"] == pytest.approx(0.875, abs=0.01) and readouts["mass_off_plain"] < 0.1
