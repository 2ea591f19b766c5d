"""The ``Energy`` base class, its composition (sum, scaling, temperature) and ``as_energy``.

An energy maps a batch ``x`` of shape ``(batch, *event_shape)`` to one scalar per sample,
shape ``(batch,)``. The density it defines at temperature ``T`` is ``p(x) ∝ exp(-E(x)/T)``.
``as_energy`` turns any ``nn.Module`` or callable with that contract into an ``Energy``.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

Projection = Callable[[torch.Tensor], torch.Tensor]


def finite_number(value: float, name: str) -> float:
    """``value`` as a float; a ``ValueError`` that names ``name`` unless it is a finite number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class Energy(nn.Module):
    """Base class: subclasses implement ``energy(x) -> (batch,)``."""

    def energy(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.energy(x)
        if e.dim() == 2 and e.shape[1] == 1:
            e = e.squeeze(1)
        if e.shape != (x.shape[0],):
            raise ValueError(f"{type(self).__name__} returned energies of shape {tuple(e.shape)}, "
                             f"expected ({x.shape[0]},)")
        return e

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies ``(batch,)`` and their gradient w.r.t. ``x``, both detached; no graph is kept."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            e = self(x)
            (grad,) = torch.autograd.grad(e.sum(), x)
        return e.detach(), grad.detach()

    def traceable_energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``energy_and_grad`` as code ``torch.compile`` traces whole: ``torch.func`` here (``autograd.grad``
        would split the program); energies with a closed form or a hand-written gradient override it."""
        def total(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            e = self(y)
            return e.sum(), e
        grad, (_, e) = torch.func.grad_and_value(total, has_aux=True)(x)
        return e.detach(), grad.detach()

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """Gradient of the energy w.r.t. ``x`` (detached)."""
        return self.energy_and_grad(x)[1]

    def hard_projection(self) -> Projection | None:
        """The map onto the feasible set of this energy's hard constraints, or ``None`` if it has none.

        Kernels without a Metropolis test (Langevin) apply it after every move; wrappers that keep
        their base's walls delegate to it.
        """
        return None

    def __add__(self, other: "Energy") -> "Energy":
        if not isinstance(other, Energy):
            return NotImplemented
        return SumEnergy([self, other])

    def __mul__(self, weight: float) -> "Energy":
        if isinstance(weight, Energy):
            return NotImplemented
        return ScaledEnergy(self, float(weight))

    __rmul__ = __mul__

    def tempered(self, temperature: float) -> "Energy":
        """The energy ``E(x)/T`` whose Boltzmann density is ``p(x) ∝ exp(-E(x)/T)``."""
        return TemperedEnergy(self, temperature)


class SumEnergy(Energy):
    """``E(x) = Σ_i E_i(x)``: the product of the experts' densities."""

    def __init__(self, terms: list[Energy]):
        super().__init__()
        flat: list[Energy] = []
        for term in terms:
            flat.extend(term.terms if isinstance(term, SumEnergy) else [term])
        self.terms = nn.ModuleList(flat)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return sum(term(x) for term in self.terms)


class ScaledEnergy(Energy):
    """``w · E(x)`` for a finite weight ``w``."""

    def __init__(self, base: Energy, weight: float):
        super().__init__()
        self.base = base
        self.weight = finite_number(weight, "energy weight")

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * self.base(x)


class TemperedEnergy(Energy):
    """``E(x) / T`` for a temperature ``T > 0``."""

    def __init__(self, base: Energy, temperature: float):
        super().__init__()
        if not temperature > 0 or not torch.isfinite(torch.tensor(float(temperature))):
            raise ValueError(f"temperature must be a positive finite number, got {temperature}")
        self.base = base
        self.temperature = float(temperature)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) / self.temperature


class FunctionEnergy(Energy):
    """Wrap a plain function ``f(x) -> (batch,)`` as an ``Energy`` (an ``nn.Module`` ``f`` becomes a submodule)."""

    def __init__(self, fn, name: str = "function"):
        super().__init__()
        self.fn = fn
        self.name = name

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


EnergyLike = Energy | nn.Module | Callable[[torch.Tensor], torch.Tensor]
"""What ``as_energy`` (and so ``sample``) accepts."""


def as_energy(obj: EnergyLike) -> Energy:
    """``obj`` itself if it is an ``Energy``; any other ``nn.Module`` or callable mapping ``(batch, *event)``
    to ``(batch,)`` (or ``(batch, 1)``) energies wrapped in a ``FunctionEnergy``, differentiated by autograd.

    Gradients are taken with respect to ``x`` only, so a wrapped module's parameters get no ``.grad``.
    """
    if isinstance(obj, Energy):
        return obj
    if not callable(obj):
        raise TypeError(f"expected an Energy, an nn.Module or a callable x -> energies, got {type(obj).__name__}")
    name = type(obj).__name__ if isinstance(obj, nn.Module) else getattr(obj, "__name__", "function")
    return FunctionEnergy(obj, name=name)
