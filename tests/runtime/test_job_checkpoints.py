"""Jobs save and load their models by name, only inside the checkpoints folder; CLI and app files interchange."""
import pytest
import torch

from ebm_engine import catalog, checkpoint_store
from ebm_engine.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from ebm_engine.cli import main
from ebm_engine.runtime.jobs.energy_landscape import LandscapeJob
from ebm_engine.runtime.jobs.rbm import RBMJob

SMALL = {"n_train": 500, "n_test": 200, "resolution": 24}


@pytest.fixture(autouse=True)
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EBM_LAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    return tmp_path / "checkpoints"


def trained_landscape(steps=3, **config):
    job = LandscapeJob({**SMALL, **config})
    for _ in range(steps):
        job.step()
    return job


def weights(job):
    return {k: v for k, v in job.model_state(training=False).items()}


def test_save_then_load_restores_weights_step_and_settings(folder):
    job = trained_landscape(hidden=64, dataset="moons")
    job.act("save_checkpoint", checkpoint="moons-64")
    assert job.checkpoint_status["ok"] and (folder / "moons-64.pt").is_file()
    snapshot = job.snapshot()["checkpoint"]
    assert ("moons-64 (moons, step 3)", "moons-64") in snapshot["options"]
    other = LandscapeJob(SMALL)
    other.act("load_checkpoint", checkpoint="moons-64")
    assert other.checkpoint_status["ok"], other.checkpoint_status
    assert other.config["hidden"] == 64 and other.config["dataset"] == "moons" and other.step_count == 3
    assert all(torch.equal(a, b) for a, b in zip(weights(job).values(), weights(other).values()))
    assert other.checkpoint_status["loads"] == 1 and "Loaded moons-64" in other.checkpoint_status["message"]


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/b", "..", "a\\b", "", "x" * 200])
def test_path_like_names_are_refused_with_a_message(name, folder, tmp_path):
    job = LandscapeJob(SMALL)
    job.act("save_checkpoint", checkpoint=name)
    assert not job.checkpoint_status["ok"] and job.checkpoint_status["message"].startswith("Not saved:")
    job.act("load_checkpoint", checkpoint=name)
    assert not job.checkpoint_status["ok"] and job.checkpoint_status["message"].startswith("Not loaded:")
    assert not list(tmp_path.rglob("*.pt")) and not (tmp_path.parent / "escape.pt").exists()
    with pytest.raises(CheckpointError):
        checkpoint_store.validate_name(name)


def test_a_checkpoint_of_another_model_is_refused_and_the_job_is_unchanged(folder):
    rbm = RBMJob({"ais_betas": 10})
    rbm.act("save_checkpoint", checkpoint="an-rbm")
    job = trained_landscape()
    before = weights(job)
    job.act("load_checkpoint", checkpoint="an-rbm")
    assert not job.checkpoint_status["ok"] and "not a 'rbm' model" in job.checkpoint_status["message"]
    assert all(torch.equal(before[k], v) for k, v in weights(job).items()) and job.step_count == 3
    assert "an-rbm" not in [ref for _, ref in job.snapshot()["checkpoint"]["options"]]   # only compatible ones


def test_a_cli_checkpoint_loads_in_the_app_job(folder):
    folder.mkdir(parents=True)
    assert main(["train", "mlp_ebm", "--data", "rings", "--steps", "3", "--out", str(folder / "from-cli.pt"),
                 "--set", "n_train=500", "--set", "n_test=200", "--quiet"]) == 0
    state, header = load_checkpoint(folder / "from-cli.pt")
    job = LandscapeJob(SMALL)
    job.act("load_checkpoint", checkpoint="from-cli")
    assert job.checkpoint_status["ok"] and job.config["dataset"] == "rings" and job.step_count == 3
    assert torch.equal(job.model_state()["model.network.0.weight"].cpu(), state["model.network.0.weight"])


def test_an_app_checkpoint_evaluates_and_resumes_in_the_cli(folder, capsys):
    job = trained_landscape(steps=2)
    job.act("save_checkpoint", checkpoint="from-app")
    path = folder / "from-app.pt"
    assert main(["evaluate", str(path), "--model", "mlp_ebm"]) == 0
    figures = capsys.readouterr().out
    expected = catalog.evaluate(job, seed=0)["nll_heldout"]
    assert f"nll_heldout={expected:.4g}" in figures.splitlines()[-1]
    assert main(["train", "mlp_ebm", "--resume", str(path), "--steps", "4", "--out", str(folder / "more.pt"),
                 "--quiet"]) == 0
    assert load_checkpoint(folder / "more.pt")[1]["step"] == 4


def test_load_pretrained_prefers_the_current_data_set(folder, tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    assets.mkdir()
    for data in ("moons", "rings"):
        job = trained_landscape(steps=1, dataset=data)
        save_checkpoint(assets / f"mlp_ebm-{data}.pt", job.model_state(training=False), job.checkpoint_header())
    monkeypatch.setattr(checkpoint_store, "ASSETS_FOLDER", assets)
    job = LandscapeJob({**SMALL, "dataset": "rings"})
    job.act("load_pretrained")
    assert job.checkpoint_status["ok"] and "pretrained:mlp_ebm-rings" in job.checkpoint_status["message"]
    assert job.snapshot()["checkpoint"]["has_pretrained"]
    monkeypatch.setattr(checkpoint_store, "ASSETS_FOLDER", tmp_path / "none")
    job.act("list_checkpoints")
    job.act("load_pretrained")
    assert not job.checkpoint_status["ok"] and "No pretrained checkpoint" in job.checkpoint_status["message"]


def test_every_model_job_round_trips_its_weights(folder):
    for name in catalog.MODELS:
        job = catalog.build_job(name, seed=3, settings={"ais_betas": 10} if name == "rbm" else None)
        path = folder.parent / f"{name}.pt"
        save_checkpoint(path, job.model_state(), job.checkpoint_header())
        again = catalog.job_from_checkpoint(path, expected_model=name)
        assert again.model_name() == name
        saved, loaded = job.model_state(training=False), again.model_state(training=False)
        assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved), name


def test_a_full_disk_during_an_app_save_keeps_the_previous_file(folder, monkeypatch):
    import errno

    from ebm_engine import checkpoints

    job = trained_landscape(steps=1)
    job.act("save_checkpoint", checkpoint="kept")
    before = (folder / "kept.pt").read_bytes()
    job.step()

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", full_disk)
    job.act("save_checkpoint", checkpoint="kept")
    status = job.checkpoint_status
    assert not status["ok"] and "No space left on device" in status["message"] and "intact" in status["message"]
    assert (folder / "kept.pt").read_bytes() == before and [p.name for p in folder.iterdir()] == ["kept.pt"]


def test_checkpoints_of_the_current_data_set_are_listed_first(folder):
    def first_options(job):
        return [reference for _, reference in job.snapshot()["checkpoint"]["options"]]

    job = trained_landscape(steps=1, dataset="moons")
    job.act("save_checkpoint", checkpoint="mine-moons")
    assert first_options(job)[0] == "mine-moons"
    job.reset({"dataset": "8gaussians"})
    assert first_options(job)[:2] == ["pretrained:mlp_ebm-8gaussians", "mine-moons"]
    job.reset({"dataset": "2spirals"})
    assert first_options(job)[0] == "pretrained:mlp_ebm-2spirals"
    assert set(first_options(job)) == {"mine-moons", "pretrained:mlp_ebm-8gaussians", "pretrained:mlp_ebm-2spirals"}
