"""Distributed training: two Gloo ranks under torchrun stay in sync and rank 0's checkpoint loads."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebm_engine.checkpoints import CheckpointError, load_checkpoint, load_weights
from ebm_engine.distributed import train_ddp
from ebm_engine.distributed.ddp_train import build_model, parameter_checksum

ROOT = Path(__file__).resolve().parents[2]


def test_two_gloo_ranks_stay_in_sync_and_the_checkpoint_loads_in_the_app(tmp_path):
    """``torchrun --nproc_per_node=2 -m ebm_engine train conv_ebm ...``: the README's command, on the CPU."""
    from ebm_engine.runtime.jobs.images_convebm import ConvEBMJob

    out = tmp_path / "conv.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "ebm_engine", "train", "conv_ebm", "--data", "digits", "--steps", "4", "--batch-size", "16",
               "--seed", "3", "--device", "cpu", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = [line for line in done.stdout.splitlines() if line.startswith("trained conv_ebm")]
    assert len(summary) == 1, done.stdout          # rank 0 alone reports
    assert "with 2 processes (in sync" in summary[0] and "step 4" in summary[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.pt"]   # one checkpoint, no temp files

    state, header = load_checkpoint(out, expected_model="conv_ebm")
    assert (header["model"], header["data"], header["step"], header["world_size"]) == ("conv_ebm", "digits", 4, 2)
    model = build_model(header["model"], header["model_args"])
    load_weights(model, state, "energy")
    checksum = float(summary[0].split("weight checksum ")[1].split(")")[0])
    assert parameter_checksum(model) == pytest.approx(checksum, rel=1e-9)

    job = ConvEBMJob({"quality_every_s": 1e9, "buffer_size": 64})       # the Images page's job loads it
    job.load_model_state(state, header)
    x = torch.rand(5, 1, 8, 8, device=job.device)   # the app's device (a GPU where there is one)
    with torch.no_grad():
        assert torch.allclose(job.energy(x), model.to(job.device).energy(x))
    assert job.step_count == 4
    job.close()


def test_jem_alone_resumes_from_its_checkpoint_and_rejects_wrong_inputs(tmp_path):
    first = train_ddp("jem", "digits", 2, 0, tmp_path / "jem.pt", device="cpu", batch_size=16, width=8,
                      sampler="captured")
    assert first["world_size"] == 1 and first["step"] == 2 and 0.0 <= first["metrics"]["test_accuracy"] <= 1.0
    assert load_checkpoint(tmp_path / "jem.pt")[1]["sampler"] == "captured"
    resumed = train_ddp("jem", "digits", 1, 0, tmp_path / "jem2.pt", device="cpu", batch_size=16,
                        resume=tmp_path / "jem.pt")
    _, header = load_checkpoint(tmp_path / "jem2.pt", expected_model="jem")
    assert resumed["step"] == header["step"] == 3
    assert header["model_args"]["width"] == 8            # the architecture comes from the checkpoint
    assert not torch.distributed.is_initialized()        # the group of one is gone again

    with pytest.raises(ValueError, match="not 'rbm'"):
        train_ddp("rbm", "digits", 1, 0, None)
    with pytest.raises(ValueError, match="data sets"):
        train_ddp("jem", "mnist", 1, 0, None)
    with pytest.raises(CheckpointError, match="not 'conv_ebm'"):
        train_ddp("conv_ebm", "digits", 1, 0, None, device="cpu", resume=tmp_path / "jem.pt")
    assert not torch.distributed.is_initialized()
