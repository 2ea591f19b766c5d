"""Under DDP a divergence seen by one rank only rolls back every rank, so the replicas stay identical.

Two Gloo processes train a small ConvEBM with ``train_ddp``. At one step rank 1 alone finds a NaN in
its copy of the weights (injected right after its optimiser step, as a hardware fault would leave
it); rank 0 sees nothing wrong. Both must count one divergence, roll back, and end with the same
weights. With the vote switched off, the same run ends out of sync: the test can fail.
"""
from __future__ import annotations

import json
import os
import socket

import torch

from tests.distributed.ranks import run_ranks

STEPS, FAULT_STEP = 4, 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, run: str, port: int, folder: str) -> None:
    """One torchrun-like rank of one run ("collective": with the vote; "each-rank-alone": without);
    rank 1 poisons one weight right after its optimiser step at FAULT_STEP. Each run has processes
    of its own: a process group is made once per process, as under torchrun."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import ebm_engine.distributed.ddp_train as ddp

    make_trainer = ddp._make_trainer

    def trainer_with_a_fault(*args, **kwargs):
        trainer = make_trainer(*args, **kwargs)
        if rank == 1:
            def poison(optimizer, *_):
                if trainer.step_count + 1 == FAULT_STEP:
                    with torch.no_grad():
                        next(trainer.energy.parameters()).view(-1)[0] = float("nan")
            trainer.optimizer.register_step_post_hook(poison)
        return trainer

    ddp._make_trainer = trainer_with_a_fault
    if run == "each-rank-alone":
        ddp.any_rank_diverged = lambda device: None   # None: no vote
    summary = ddp.train_ddp("conv_ebm", "digits", STEPS, 0, None, device="cpu", batch_size=8, width=4)
    with open(os.path.join(folder, f"{run}-rank{rank}.json"), "w") as handle:
        json.dump(summary, handle)


def test_a_nan_on_one_rank_rolls_back_every_rank(tmp_path):
    for run in ("collective", "each-rank-alone"):
        run_ranks(_rank, (run, _free_port(), str(tmp_path)), 2)
    runs = {run: [json.loads((tmp_path / f"{run}-rank{r}.json").read_text()) for r in (0, 1)]
            for run in ("collective", "each-rank-alone")}
    rank0, rank1 = runs["collective"]
    assert rank0["step"] == rank1["step"] == STEPS
    assert rank0["divergences"] == rank1["divergences"] == 1     # rank 0 saw nothing, and rolled back too
    assert rank0["ranks_in_sync"] and rank0["checksum"] == rank1["checksum"]
    alone0, alone1 = runs["each-rank-alone"]                     # without the vote the replicas drift apart
    assert (alone0["divergences"], alone1["divergences"]) == (0, 1)
    assert not alone0["ranks_in_sync"] and alone0["checksum"] != alone1["checksum"]
