"""Under DDP, stopping and resuming from rank 0's checkpoint continues exactly: every rank gets back
its own optimiser moments, replay-buffer shard and generator stream, so 2 + 2 steps end with the very
weights of 4 steps in one go. The same checkpoint resumed by a group of another size restores the
weights and step only, and says so."""
from __future__ import annotations

import json
import os
import socket

import torch

from ebm_engine.checkpoints import load_checkpoint
from tests.distributed.ranks import run_ranks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, folder: str, run: str, steps: int, resume: str | None) -> None:
    """One torchrun-like rank; each run has processes of its own, as under torchrun."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from ebm_engine.distributed.ddp_train import train_ddp

    summary = train_ddp("conv_ebm", "digits", steps, 0, os.path.join(folder, f"{run}.pt"), device="cpu",
                        batch_size=8, width=4, resume=os.path.join(folder, resume) if resume else None)
    with open(os.path.join(folder, f"{run}-rank{rank}.json"), "w") as handle:
        json.dump(summary, handle)


def _run(tmp_path, run: str, steps: int, resume: str | None = None, world: int = 2) -> list[dict]:
    run_ranks(_rank, (world, _free_port(), str(tmp_path), run, steps, resume), world)
    return [json.loads((tmp_path / f"{run}-rank{r}.json").read_text()) for r in range(world)]


def test_two_ranks_resume_exactly_and_another_group_size_from_the_weights(tmp_path):
    straight = _run(tmp_path, "straight", 4)
    first = _run(tmp_path, "first", 2)
    state, header = load_checkpoint(tmp_path / "first.pt", expected_model="conv_ebm")
    for rank in (0, 1):   # each rank's own state is in rank 0's file, and the shards differ
        assert f"train.rank{rank}.buffer" in state and f"train.rank{rank}.generator" in state
    assert not torch.equal(state["train.rank0.buffer"], state["train.rank1.buffer"])
    assert not torch.equal(state["train.rank0.generator"], state["train.rank1.generator"])

    resumed = _run(tmp_path, "resumed", 2, resume="first.pt")
    assert resumed[0]["step"] == straight[0]["step"] == 4
    assert "replay buffer" in resumed[0]["restored"] and "random generator" in resumed[1]["restored"]
    assert resumed[0]["ranks_in_sync"] and straight[0]["ranks_in_sync"]
    assert resumed[0]["checksum"] == straight[0]["checksum"]          # bit for bit

    alone = _run(tmp_path, "alone", 2, resume="first.pt", world=1)    # another group size
    assert alone[0]["restored"] == [] and alone[0]["step"] == 4
    assert alone[0]["checksum"] != straight[0]["checksum"]
