"""Joining the process group torchrun describes in the environment (NCCL on GPUs, Gloo on the CPU), and
one verdict for all ranks on whether a training step diverged.

A divergence can be seen by one rank alone: a non-finite value in its own batch, its replay-buffer
shard or its copy of the weights, or energies beyond a bound on its own data. If that rank rolled
back to its last good state while the others went on, the replicas would hold different weights
from then on. ``any_rank_diverged`` gives a trainer's ``LastGoodState`` a vote: every rank shares its
verdict (an all-reduce of one flag, MAX) and all roll back when any of them diverged.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist

from ebm_engine.device import select_device


@dataclass
class RankContext:
    """Where this process sits: its rank, the world size, its device, and whether it owns the group."""

    rank: int
    world_size: int
    device: torch.device
    created_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def join_process_group(device: str | None = None) -> RankContext:
    """Join (or reuse) the default process group from torchrun's environment variables.

    Without torchrun's variables the process trains alone in a group of one, so the same code runs
    from a plain ``python`` call.
    """
    chosen = select_device(device)
    if chosen.type == "cuda":
        if chosen.index is None:   # one GPU per rank: cuda:LOCAL_RANK
            chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        torch.cuda.set_device(chosen)
    created = not dist.is_initialized()
    backend = "nccl" if chosen.type == "cuda" else "gloo"
    if created and "WORLD_SIZE" in os.environ:   # started by torchrun: rendezvous through its environment
        dist.init_process_group(backend=backend, device_id=chosen if chosen.type == "cuda" else None)
    elif created:
        dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1)
    return RankContext(dist.get_rank(), dist.get_world_size(), chosen, created)


def leave_process_group(context: RankContext) -> None:
    """Destroy the group if this module created it (a caller's own group is left alone)."""
    if context.created_group and dist.is_initialized():
        dist.destroy_process_group()


def any_rank_diverged(device: torch.device) -> Callable[[bool], bool]:
    """A vote for ``LastGoodState.agree``: True on every rank when any rank's step diverged."""
    def vote(diverged: bool) -> bool:
        flag = torch.tensor([1 if diverged else 0], dtype=torch.int32, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())
    return vote
