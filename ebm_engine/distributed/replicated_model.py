"""A model wrapped in DistributedDataParallel that the lab's trainers can use as they are.

The trainers call ``energy(x)`` (and JEM's trainer ``logits(x)``) both to compute the loss and,
with the weights frozen, inside Langevin sampling. ``ReplicatedModel`` sends a call through the
DDP wrapper only when it builds a graph for the weights (so their gradients are averaged across
ranks in ``backward``); sampling calls go to the plain module, so the chains of each rank run
without any communication.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ebm_engine.energies.base import Energy


class _MethodRouter(nn.Module):
    """DDP calls ``forward``; this forwards to the model's ``energy`` (via ``__call__``) or ``logits``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, method: str = "energy") -> torch.Tensor:
        return self.model(x) if method == "energy" else getattr(self.model, method)(x)


class ReplicatedModel(Energy):
    """``model`` with DDP gradient averaging; parameters and state dict are the model's own (``model.``)."""

    def __init__(self, model: Energy, device: torch.device):
        super().__init__()
        self.model = model
        self.shape = getattr(model, "shape", None)   # JEM's trainer reads the image shape
        ids = [device.index] if device.type == "cuda" else None
        # not registered as a submodule: the parameters would be listed twice in the state dict
        object.__setattr__(self, "ddp", DistributedDataParallel(_MethodRouter(model), device_ids=ids))

    def _builds_weight_graph(self) -> bool:
        return torch.is_grad_enabled() and any(p.requires_grad for p in self.model.parameters())

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.ddp(x, "energy") if self._builds_weight_graph() else self.model(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.ddp(x, "logits") if self._builds_weight_graph() else self.model.logits(x)
