"""The headless CLI, in-process (``main([...])``) and once as a real subprocess."""
import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ebm_engine import catalog, checkpoints
from ebm_engine.checkpoints import load_checkpoint
from ebm_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--set", "n_train=500", "--set", "n_test=200", "--quiet"]


def train(tmp_path, *extra, steps=4, name="mlp.pt"):
    out = tmp_path / name
    code = main(["train", "mlp_ebm", "--data", "8gaussians", "--steps", str(steps), "--out", str(out), *SMALL, *extra])
    return code, out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    code, out = train(tmp_path_factory.mktemp("cli"))
    assert code == 0
    return out


def test_train_writes_a_checkpoint_with_a_full_header_and_prints_a_summary(trained, capsys, tmp_path):
    state, header = load_checkpoint(trained, expected_model="mlp_ebm")
    assert header["model"] == "mlp_ebm" and header["data"] == "8gaussians" and header["step"] == 4
    assert header["model_args"] == {"hidden": 128, "depth": 2, "activation": "silu"}
    assert header["seed"] == 0 and header["config"]["n_train"] == 500
    assert set(header["metrics"]) >= {"nll_heldout", "log_z"}
    assert any(k.startswith("model.") for k in state) and "train.buffer" in state
    code, out = train(tmp_path, steps=2)
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0 and summary.startswith("trained mlp_ebm on 8gaussians: steps 0→2")
    assert f"nll_heldout={load_checkpoint(out)[1]['metrics']['nll_heldout']:.4g}" in summary


def test_resume_gives_the_same_model_as_an_uninterrupted_run(tmp_path):
    assert train(tmp_path, steps=6, name="straight.pt")[0] == 0
    assert train(tmp_path, steps=3, name="half.pt")[0] == 0
    resumed = tmp_path / "resumed.pt"
    assert main(["train", "mlp_ebm", "--steps", "6", "--resume", str(tmp_path / "half.pt"), "--out", str(resumed),
                 "--quiet"]) == 0
    straight, header_a = load_checkpoint(tmp_path / "straight.pt")
    again, header_b = load_checkpoint(resumed)
    assert header_b["step"] == 6
    for key, value in straight.items():
        assert torch.equal(value, again[key]), key
    assert header_a["metrics"] == header_b["metrics"]


def test_evaluate_reproduces_the_recorded_metrics(trained, capsys):
    assert main(["evaluate", str(trained)]) == 0
    printed = capsys.readouterr().out
    recorded = load_checkpoint(trained)[1]["metrics"]
    assert f"nll_heldout={recorded['nll_heldout']:.4g}" in printed.splitlines()[-1]
    job = catalog.job_from_checkpoint(trained)
    assert catalog.evaluate(job, seed=0) == pytest.approx(recorded, rel=1e-12)


def test_sample_writes_points_and_image_grids(trained, tmp_path):
    assert main(["sample", str(trained), "--out", str(tmp_path / "points"), "-n", "12", "--steps", "5"]) == 0
    points = np.load(tmp_path / "points.npz")
    assert points["samples"].shape == (12, 2) and str(points["model"]) == "mlp_ebm"
    job = catalog.build_job("rbm", seed=0, settings={"ais_betas": 10})
    rbm_file = tmp_path / "rbm.pt"
    checkpoints.save_checkpoint(rbm_file, job.model_state(), job.checkpoint_header())
    assert main(["sample", str(rbm_file), "--out", str(tmp_path / "digits.npz"), "-n", "9", "--steps", "3"]) == 0
    digits = np.load(tmp_path / "digits.npz")["samples"]
    assert digits.shape == (9, 8, 8) and 0.0 <= digits.min() and digits.max() <= 1.0
    assert (tmp_path / "digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, words", [
    (["train", "nosuch", "--steps", "2", "--out", "{tmp}/x.pt"], "unknown model 'nosuch'"),
    (["train", "mlp_ebm", "--data", "nosuch", "--steps", "2", "--out", "{tmp}/x.pt"], "does not train on 'nosuch'"),
    (["train", "mlp_ebm", "--steps", "2", "--out", "{tmp}/missing/x.pt"], "does not exist"),
    (["train", "rbm", "--data", "mnist", "--data-folder", "{tmp}/nofolder", "--steps", "2", "--out", "{tmp}/x.pt"],
     "does not exist"),
    (["train", "mlp_ebm", "--steps", "0", "--out", "{tmp}/x.pt"], "must be at least 1"),
    (["train", "mlp_ebm", "--steps", "2", "--out", "{tmp}/x.pt", "--set", "hidden"], "not KEY=VALUE"),
    (["train", "mlp_ebm", "--steps", "2", "--out", "{tmp}/x.pt", "--set", "colour=blue"], "unknown setting"),
    (["evaluate", "{trained}", "--model", "rbm"], "holds a 'mlp_ebm' model, not 'rbm'"),
    (["train", "rbm", "--steps", "2", "--resume", "{trained}", "--out", "{tmp}/x.pt"], "not 'rbm'"),
    (["sample", "{tmp}/none.pt", "--out", "{tmp}/s.npz"], "no checkpoint file"),
    (["evaluate", "{garbage}"], "not a lab checkpoint"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_bad_input_exits_2_with_one_clear_line(args, words, trained, tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    argv = [a.format(tmp=tmp_path, trained=trained, garbage=garbage) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ebm-lab: error: ") and words in err[0], err
    assert not (tmp_path / "x.pt").exists()


def test_disk_full_during_save_keeps_the_previous_checkpoint(trained, tmp_path, capsys, monkeypatch):
    out = tmp_path / "kept.pt"
    out.write_bytes(trained.read_bytes())
    before = out.read_bytes()
    real_save = torch.save

    def full_disk(obj, handle, *args, **kwargs):
        real_save(obj, handle, *args, **kwargs)   # part of the bytes reach the temporary file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", full_disk)
    code = main(["train", "mlp_ebm", "--steps", "5", "--resume", str(out), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "No space left on device" in err[0] and "intact" in err[0]
    assert out.read_bytes() == before and load_checkpoint(out)[1]["step"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.pt"]   # no temporary file left behind


def test_the_module_runs_as_a_program(trained):
    done = subprocess.run([sys.executable, "-m", "ebm_engine", "evaluate", str(trained), "--model", "mlp_ebm"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("evaluated mlp_ebm on 8gaussians (step 4, seed 0)")


def test_save_every_writes_intermediate_checkpoints(tmp_path, monkeypatch):
    saved_steps = []
    real_save = checkpoints.save_checkpoint

    def recording_save(path, state, header):
        saved_steps.append(header["step"])
        return real_save(path, state, header)

    monkeypatch.setattr(checkpoints, "save_checkpoint", recording_save)
    code, out = train(tmp_path, "--save-every", "2", steps=5)
    assert code == 0 and saved_steps == [2, 4, 5]
    assert load_checkpoint(out)[1]["metrics"]   # only the last one carries the evaluation


SYMMETRY_SMALL = ["--set", "n_train=500", "--set", "n_test=200", "--set", "hidden=16", "--quiet"]


@pytest.mark.parametrize("model, parts", [("equivariant_ebm", {"equivariant", "plain"}), ("latent_ebm", {"latent"})])
def test_symmetry_and_latent_models_train_evaluate_and_sample(model, parts, tmp_path, capsys):
    out = tmp_path / f"{model}.pt"
    assert main(["train", model, "--data", "rings", "--steps", "3", "--out", str(out), *SYMMETRY_SMALL]) == 0
    state, header = load_checkpoint(out, expected_model=model)
    assert (header["model"], header["data"], header["step"]) == (model, "rings", 3)
    assert header["model_args"]["hidden"] == 16 and header["config"]["model"] == model
    assert {key.split(".")[0] for key in state if not key.startswith("train.")} == parts
    assert all(f"train.{part}.optimizer.0.exp_avg" in state for part in parts)   # what a resume needs
    recorded = header["metrics"]
    expected = {"nll_equivariant", "nll_plain", "mass_off_equivariant", "mass_off_plain"} \
        if model == "equivariant_ebm" else {"nll_latent", "marginal_se"}
    assert set(recorded) == expected | {"nll_true"} and recorded["nll_true"] < min(recorded[k] for k in expected
                                                                                 if k.startswith("nll_"))
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    assert catalog.evaluate(catalog.job_from_checkpoint(out), seed=0) == pytest.approx(recorded, rel=1e-12)
    assert main(["sample", str(out), "--out", str(tmp_path / "points"), "-n", "7", "--steps", "4"]) == 0
    points = np.load(tmp_path / "points.npz")
    assert points["samples"].shape == (7, 2) and np.isfinite(points["samples"]).all()
    assert str(points["model"]) == model
    assert main(["train", model, "--data", "moons", "--steps", "2", "--out", str(tmp_path / "x.pt"), "--quiet"]) == 2
    assert "does not train on 'moons'" in capsys.readouterr().err


def test_the_symmetry_pages_own_file_evaluates_in_the_cli(tmp_path, capsys):
    """The page saves its three energies in one file: the CLI reads it with both models' figures."""
    from ebm_engine.runtime.jobs.symmetry_latents import SymmetryLatentsJob

    job = SymmetryLatentsJob({"n_train": 500, "n_test": 200, "hidden": 16, "readout_every_s": 1e9,
                              "surface_every_s": 1e9})
    job.step()
    path = checkpoints.save_checkpoint(tmp_path / "page.pt", job.model_state(), job.checkpoint_header())
    assert main(["evaluate", str(path)]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("evaluated symmetry_latent_ebms on 8gaussians (step 1")
    assert "nll_equivariant=" in summary and "nll_latent=" in summary


def test_list_names_every_model_with_its_data_sets(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, entry in catalog.MODELS.items():
        row = lines.index(next(line for line in lines if line.split()[0] == name))
        assert entry.summary in lines[row] and ", ".join(entry.datasets) in lines[row + 1]
    assert {"equivariant_ebm", "latent_ebm", "symmetry_latent_ebms"} <= set(catalog.MODELS)
