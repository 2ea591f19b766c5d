"""One verdict for all ranks on whether a training step diverged.

A divergence can be seen by one rank alone: a non-finite value in its own batch, its replay-buffer
shard or its copy of the weights, or energies beyond a bound on its own data. If that rank rolled
back to its last good state while the others went on, the replicas would hold different weights
from then on. ``any_rank_diverged`` gives a trainer's ``LastGoodState`` a vote: every rank shares its
verdict (an all-reduce of one flag, MAX) and all roll back when any of them diverged.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.distributed as dist


def any_rank_diverged(device: torch.device) -> Callable[[bool], bool]:
    """A vote for ``LastGoodState.agree``: True on every rank when any rank's step diverged."""
    def vote(diverged: bool) -> bool:
        flag = torch.tensor([1 if diverged else 0], dtype=torch.int32, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())
    return vote
