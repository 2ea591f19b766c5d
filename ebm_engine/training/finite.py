"""Divergence checks that cost one host sync, however many parameters a model has.

Checking ``torch.isfinite(p).all()`` parameter by parameter reads a flag back from the GPU per
tensor (dozens of stalls per training iteration); here the flags are combined on the device first.
"""
from __future__ import annotations

import torch
from torch import nn


def parameters_finite(*modules: nn.Module) -> bool:
    """True when every parameter of every module is finite (one device-to-host read)."""
    flags = [torch.isfinite(p).all() for m in modules for p in m.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


def host_values(*values: torch.Tensor | float) -> list[float]:
    """Scalar tensors (any device) as Python floats, read back in one transfer."""
    tensors = [v.detach().float().reshape(()) if isinstance(v, torch.Tensor) else None for v in values]
    on_device = [t for t in tensors if t is not None]
    read = iter(torch.stack([t.to(on_device[0].device) for t in on_device]).tolist()) if on_device else iter(())
    return [next(read) if t is not None else float(v) for t, v in zip(tensors, values)]


__all__ = ["parameters_finite", "host_values"]
