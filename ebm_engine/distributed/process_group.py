"""Joining the process group torchrun describes in the environment (NCCL on GPUs, Gloo on the CPU)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ebm_engine.device import select_device


@dataclass
class RankContext:
    """Where this process sits: its rank, the world size, its device, and whether it owns the group."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    created_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def rank_device(device: str | None, local_rank: int) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` when CUDA is chosen without an index."""
    chosen = select_device(device)
    if chosen.type == "cuda" and chosen.index is None:
        chosen = torch.device("cuda", local_rank % torch.cuda.device_count())
    return chosen


def join_process_group(device: str | None = None) -> RankContext:
    """Join (or reuse) the default process group from torchrun's environment variables.

    Without torchrun's variables the process trains alone in a group of one, so the same code runs
    from a plain ``python`` call.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    chosen = rank_device(device, local_rank)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if dist.is_initialized():
        return RankContext(dist.get_rank(), dist.get_world_size(), local_rank, chosen, created_group=False)
    backend = "nccl" if chosen.type == "cuda" else "gloo"
    if "WORLD_SIZE" in os.environ:   # started by torchrun: rendezvous through its environment
        dist.init_process_group(backend=backend, device_id=chosen if chosen.type == "cuda" else None)
    else:
        dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1)
    return RankContext(dist.get_rank(), dist.get_world_size(), local_rank, chosen, created_group=True)


def leave_process_group(context: RankContext) -> None:
    """Destroy the group if this module created it (a caller's own group is left alone)."""
    if context.created_group and dist.is_initialized():
        dist.destroy_process_group()
