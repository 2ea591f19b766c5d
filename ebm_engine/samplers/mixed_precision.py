"""bf16 mixed precision for energy evaluations, kept out of the accept/reject arithmetic.

``AutocastEnergy`` runs its base energy's forward pass (and so the backward pass that ``∇ₓE``
comes from) under ``torch.autocast`` with bfloat16, and hands the energies back in float32.
Positions and gradients stay float32 (autograd returns ``∇ₓE`` in the dtype of ``x``), so any
kernel driven by it — Langevin's update, MALA's log-ratio, HMC's Hamiltonian — does its own
arithmetic in float32: bf16 carries 8 bits of mantissa, too few for ``E(x') - E(x)`` when the
energies are large. Autocast works on CUDA and on the CPU.
"""
from __future__ import annotations

import contextlib

import torch

from ebm_engine.energies.base import Energy, EnergyLike, Projection, as_energy

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def autocast_for(device: torch.device | str, precision: str):
    """A context running matrix products and convolutions in bf16 (``"bf16"``), or nothing (``"fp32"``)."""
    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


class AutocastEnergy(Energy):
    """``base`` (anything ``as_energy`` takes) evaluated under bf16 autocast; energies come back as float32."""

    def __init__(self, base: EnergyLike):
        super().__init__()
        self.base = as_energy(base)

    def hard_projection(self) -> Projection | None:
        return self.base.hard_projection()   # the walls are the base's: bf16 does not move them

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        # no cast cache: safe inside a captured CUDA graph (each weight is used once per call anyway)
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, cache_enabled=False):
            e = self.base(x)
        return e.float()


def energy_in_precision(energy: Energy, precision: str) -> Energy:
    """``energy`` itself for fp32, wrapped in ``AutocastEnergy`` for bf16."""
    return energy if check_precision(precision) == "fp32" else AutocastEnergy(energy)
