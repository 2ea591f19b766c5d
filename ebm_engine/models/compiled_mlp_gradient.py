"""Energy and input gradient of an MLP energy as one compiled CPU program (``torch.compile``, inductor).

The same ``(E(x), ∇ₓE(x))`` as ``MLPGradient``, written as one pure function of the input and the
weights so the compiler can fuse what eager torch runs as separate passes over the activations:

- each activation and its derivative are computed in the loop that reads the matrix product's
  output (one pass over a ``(batch, width)`` tensor instead of three or four);
- a narrow first layer (at most ``NARROW_INPUT`` inputs, as for 2-D energies) is a sum of broadcast
  products, computed inside those loops rather than as a matrix product of inner size 2;
- its gradient is reduced in the same loop that applies the last derivative;
- each activation's derivative is computed with the activation (one sigmoid for SiLU) and kept.

At 4096 chains of a 2-256-256-1 SiLU MLP this takes ``energy_and_grad`` from ~77% to ~92% of what
this machine's matrix-multiply rate allows (``bench/samplers.py``). Compiling takes a few seconds
the first time a process meets an activation and layout (the compiled code is cached on disk), so
the energy uses it only when asked (``SimpleEBM.use_compiled_gradient``). Where no compiler is
available the first call fails over to ``MLPGradient`` with a warning.
"""
from __future__ import annotations

import threading
import warnings
from typing import Callable

import torch
from torch import nn

from ebm_engine.models.mlp_gradient import MLPGradient, weights_key

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

_programs: dict[tuple[str, bool], Callable] = {}
_programs_lock = threading.Lock()
_unavailable: list[str] = []   # why compiling failed in this process (then every energy uses MLPGradient)


def _program(activation: str, narrow: bool) -> Callable:
    """The compiled ``(x, weights…) -> (E, ∇ₓE)`` for one activation and first-layer layout, shared by all MLPs."""
    key = (activation, narrow)
    with _programs_lock:
        if key not in _programs:
            act_and_derivative = ACTIVATIONS[activation]

            def energy_and_grad(x, w_in_t, w_in, b_in, hidden_t, hidden, hidden_b, w_out, b_out):
                if narrow:   # z = b + Σ_k x_k · w_k, inside the element-wise loop
                    z = b_in + sum(x[:, k:k + 1] * w_in_t[k] for k in range(x.shape[1]))
                else:
                    z = x @ w_in_t + b_in
                h, d = act_and_derivative(z)
                derivatives = [d]   # kept from the forward pass: cheaper than evaluating them again
                for weight_t, bias in zip(hidden_t, hidden_b):
                    h, d = act_and_derivative(h @ weight_t + bias)
                    derivatives.append(d)
                energy = (h * w_out).sum(1) + b_out
                g = w_out * derivatives[-1]
                for i in range(len(hidden) - 1, -1, -1):
                    g = (g @ hidden[i]) * derivatives[i]
                if narrow:
                    grad = torch.stack([(g * w_in_t[k]).sum(1) for k in range(x.shape[1])], dim=1)
                else:
                    grad = g @ w_in
                return energy, grad, derivatives[:-1]   # outputs: stored once, read back, not recomputed

            _programs[key] = torch.compile(energy_and_grad, dynamic=True, fullgraph=True)
        return _programs[key]


class CompiledMLPGradient(MLPGradient):
    """``(E(x), ∇ₓE(x))`` for ``Linear → act → … → Linear(·, 1)`` layers by one compiled program
    (``MLPGradient``'s eager pass where it cannot run)."""

    def __init__(self, linears: list[nn.Linear], activation: str):
        super().__init__(linears, activation)
        self._laid_out_key: tuple | None = None

    def _laid_out_weights(self) -> tuple:
        """Weights laid out for the program, rebuilt when a parameter changed (version or storage)."""
        key = weights_key(self.linears)
        if key != self._laid_out_key:
            with torch.no_grad():
                first, *middle, last = self.linears
                self._laid_out = (first.weight.t().contiguous(), first.weight.detach(), first.bias.detach(),
                                  [m.weight.t().contiguous() for m in middle], [m.weight.detach() for m in middle],
                                  [m.bias.detach() for m in middle], last.weight[0].detach().contiguous(),
                                  last.bias.detach())
            self._laid_out_key = key
        return self._laid_out

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(x.shape[0], -1)
        if _unavailable or flat.device.type != "cpu" or flat.shape[0] == 0:
            return super().__call__(x)
        program = _program(self.activation, flat.shape[1] <= NARROW_INPUT)
        try:
            with torch.no_grad():
                energy, grad, _ = program(flat, *self._laid_out_weights())
        except Exception as exc:   # no C++ compiler, an unsupported platform: the eager pass
            _unavailable.append(f"{type(exc).__name__}: {exc}")
            warnings.warn(f"the compiled MLP gradient is unavailable here ({_unavailable[0][:200]}); "
                          "using the eager one", RuntimeWarning, stacklevel=2)
            return super().__call__(x)
        return energy, grad.reshape(x.shape)
