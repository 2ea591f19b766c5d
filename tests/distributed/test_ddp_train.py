"""Distributed training: two Gloo ranks under torchrun stay in sync and rank 0's checkpoint loads."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebm_engine.checkpoints import CheckpointError, load_checkpoint
from ebm_engine.distributed import train_ddp
from ebm_engine.distributed.ddp_train import build_model, parameter_checksum

ROOT = Path(__file__).resolve().parents[2]


def test_two_gloo_ranks_stay_in_sync_and_rank_zero_writes_a_loadable_checkpoint(tmp_path):
    out, reports = tmp_path / "conv.pt", tmp_path / "reports"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "ebm_engine.distributed", "--model", "conv_ebm", "--steps", "4", "--batch-size", "16",
               "--width", "8", "--seed", "3", "--device", "cpu", "--out", str(out), "--report-dir", str(reports)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    ranks = [json.loads((reports / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["checksum"] == ranks[1]["checksum"]               # identical weights on both ranks
    assert ranks[0]["metrics"]["e_data"] != ranks[1]["metrics"]["e_data"]   # from different data shards
    assert ranks[0]["checkpoint"] == str(out) and ranks[1]["checkpoint"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.pt", "reports"]   # rank 1 wrote nothing

    state, header = load_checkpoint(out, expected_model="conv_ebm")
    assert (header["model"], header["data"], header["step"], header["world_size"]) == ("conv_ebm", "digits", 4, 2)
    model = build_model(header["model"], header["model_args"])
    model.load_state_dict(state)
    assert parameter_checksum(model) == pytest.approx(ranks[0]["checksum"], rel=1e-12)


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
