"""Energy and input gradient of an MLP energy as pure tensor code for a compiled program to fuse.

The same ``(E(x), ∇ₓE(x))`` as ``MLPGradient``, written as one function of the input and the layers
so that ``torch.compile`` (the samplers' compiled path, ``samplers.compiled``) fuses what eager torch
runs as separate passes over the activations:

- each activation and its derivative are computed in the loop that reads the matrix product's
  output (one pass over a ``(batch, width)`` tensor instead of three or four);
- a narrow first layer (at most ``NARROW_INPUT`` inputs, as for 2-D energies) is a sum of broadcast
  products, computed inside those loops rather than as a matrix product of inner size 2;
- its gradient is reduced in the same loop that applies the last derivative;
- each activation's derivative is computed with the activation (one sigmoid for SiLU) and kept.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

NARROW_INPUT = 8   # first layers with at most this many inputs are computed as broadcast products


def _silu(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(z)
    h = z * s
    return h, s + h * (1 - s)   # σ(z)(1 + z(1 − σ(z))), from what the layer keeps anyway


def _tanh(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.tanh(z)
    return t, 1 - t * t


def _elu(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    e = torch.expm1(z)
    return torch.where(z > 0, z, e), torch.where(z > 0, torch.ones_like(z), e + 1)


def _softplus(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:   # torch's beta 1, threshold 20
    linear = z > 20
    return torch.where(linear, z, torch.log1p(torch.exp(z))), torch.where(linear, torch.ones_like(z), torch.sigmoid(z))


# name -> z ↦ (activation, its derivative), element-wise and from one evaluation of what they share
ACTIVATIONS: dict[str, Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = {
    "silu": _silu,
    "tanh": _tanh,
    "relu": lambda z: (torch.relu(z), (z > 0).to(z.dtype)),
    "leaky_relu": lambda z: (torch.where(z > 0, z, 0.2 * z), torch.where(z > 0, torch.ones_like(z), torch.full_like(z, 0.2))),
    "elu": _elu,
    "softplus": _softplus,
}

def fused_energy_and_grad(x: torch.Tensor, linears: list[nn.Linear],
                          activation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(E(x), ∇ₓE(x))`` of ``Linear → act → … → Linear(·, 1)`` for ``x`` of shape ``(batch, *event)``."""
    act_and_derivative = ACTIVATIONS[activation]
    first, *middle, last = linears
    flat = x.reshape(x.shape[0], -1)
    narrow = flat.shape[1] <= NARROW_INPUT
    if narrow:   # z = b + Σ_k x_k · w_k, inside the element-wise loop
        z = first.bias + sum(flat[:, k:k + 1] * first.weight[:, k] for k in range(flat.shape[1]))
    else:
        z = flat @ first.weight.t() + first.bias
    h, d = act_and_derivative(z)
    derivatives = [d]   # kept from the forward pass: cheaper than evaluating them again
    for layer in middle:
        h, d = act_and_derivative(h @ layer.weight.t() + layer.bias)
        derivatives.append(d)
    w_out = last.weight[0]
    energy = (h * w_out).sum(1) + last.bias
    g = w_out * derivatives[-1]
    for layer, d in zip(reversed(middle), reversed(derivatives[:-1])):
        g = (g @ layer.weight) * d
    if narrow:
        grad = torch.stack([(g * first.weight[:, k]).sum(1) for k in range(flat.shape[1])], dim=1)
    else:
        grad = g @ first.weight
    return energy.detach(), grad.detach().reshape(x.shape)
