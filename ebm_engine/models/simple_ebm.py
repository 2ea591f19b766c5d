"""SimpleEBM: a multilayer-perceptron energy for low-dimensional data."""
from __future__ import annotations

import torch
from torch import nn

from ebm_engine.energies.base import Energy
from ebm_engine.models.mlp_gradient import MLPGradient
from ebm_engine.models.mlp_traced_gradient import fused_energy_and_grad

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh,
               "leaky_relu": lambda: nn.LeakyReLU(0.2), "softplus": nn.Softplus}


def mlp(width_in: int, hidden: int, depth: int, width_out: int, activation: str) -> nn.Sequential:
    """``depth`` hidden layers ``Linear(·, hidden) → activation``, then ``Linear(hidden, width_out)``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    width = width_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, width_out))


class SimpleEBM(Energy):
    """MLP energy ``E(x) = f_θ(x)`` with configurable width, depth and activation.

    Smooth activations (SiLU, the default) give smooth gradients for Langevin sampling;
    ReLU gives piecewise-linear energies whose gradients are piecewise constant.
    ``energy_and_grad`` back-propagates by hand (``MLPGradient``): autograd's numbers without
    its graph, which at sampling batch sizes is much of the cost. Compiled sampling programs trace
    ``fused_energy_and_grad`` instead, which the compiler fuses with the sampler's step.
    """

    def __init__(self, input_dim: int = 2, hidden: int = 128, depth: int = 2, activation: str = "silu"):
        super().__init__()
        if input_dim < 1 or hidden < 1 or depth < 1:
            raise ValueError(f"input_dim, hidden and depth must be >= 1, got {input_dim}, {hidden}, {depth}")
        self.config = {"input_dim": input_dim, "hidden": hidden, "depth": depth, "activation": activation}
        self.network = mlp(input_dim, hidden, depth, 1, activation)
        self._gradient = MLPGradient(list(self.network[::2]), activation)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x.reshape(x.shape[0], -1)).squeeze(-1)

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies ``(batch,)`` and ``∇ₓE``, detached, by a hand-written backward pass."""
        if type(self).energy is not SimpleEBM.energy:   # a subclass changed the function: use autograd
            return super().energy_and_grad(x)
        return self._gradient(x)

    def traceable_energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if type(self).energy is not SimpleEBM.energy:
            return super().traceable_energy_and_grad(x)
        return fused_energy_and_grad(x, list(self.network[::2]), self.config["activation"])
