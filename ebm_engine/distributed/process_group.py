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
