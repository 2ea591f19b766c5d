"""Start a test's ranks as torchrun would, but forked from a server that has already imported torch
and the trainer: a spawned rank imports them afresh, seconds of each test's time per rank."""
from __future__ import annotations

import multiprocessing

import torch.multiprocessing as mp


def run_ranks(fn, args: tuple, nprocs: int) -> None:
    """Run ``fn(rank, *args)`` in ``nprocs`` processes and wait for all of them (errors are raised)."""
    multiprocessing.set_forkserver_preload(["torch", "ebm_engine.distributed.ddp_train"])
    mp.start_processes(fn, args=args, nprocs=nprocs, join=True, start_method="forkserver")
