"""Energy and input gradient of an MLP energy by a hand-written backward pass.

Autograd records a graph, allocates every intermediate afresh and initialises each layer's
output with its bias before the matrix product; for sampling, which needs only ``∇ₓE`` and
never the weights' gradients, all three are avoidable:

- each ``Linear`` is used as one augmented matrix ``[Wᵀ; b]`` against activations that carry a
  constant-1 column, so a layer is a single matrix product (rebuilt only when a parameter's
  version changes, i.e. after an optimiser step);
- pre-activations and activations live in buffers reused across calls (per thread and batch
  size), written by torch's ``out=`` kernels; the derivative of each activation is torch's own
  fused backward kernel, the one autograd runs.

The numbers are those of autograd (same kernels, same order of accumulation up to the bias add).
"""
from __future__ import annotations

import threading

import torch
from torch import nn

_aten = torch.ops.aten

# name -> (forward(z, out), backward(grad_out, z, h, out)), all writing into ``out``.
ACTIVATION_KERNELS = {
    "silu": (lambda z, out: _aten.silu.out(z, out=out),
             lambda g, z, h, out: _aten.silu_backward.grad_input(g, z, grad_input=out)),
    "relu": (lambda z, out: _aten.relu.out(z, out=out),
             lambda g, z, h, out: _aten.threshold_backward.grad_input(g, h, 0, grad_input=out)),
    "elu": (lambda z, out: _aten.elu.out(z, 1.0, 1, 1, out=out),
            lambda g, z, h, out: _aten.elu_backward.grad_input(g, 1.0, 1, 1, False, z, grad_input=out)),
    "tanh": (lambda z, out: _aten.tanh.out(z, out=out),
             lambda g, z, h, out: _aten.tanh_backward.grad_input(g, h, grad_input=out)),
    "leaky_relu": (lambda z, out: _aten.leaky_relu.out(z, 0.2, out=out),
                   lambda g, z, h, out: _aten.leaky_relu_backward.grad_input(g, z, 0.2, False, grad_input=out)),
    "softplus": (lambda z, out: _aten.softplus.out(z, 1, 20, out=out),
                 lambda g, z, h, out: _aten.softplus_backward.grad_input(g, z, 1, 20, grad_input=out)),
}


def weights_key(linears: list[nn.Linear]) -> tuple:
    """What changes when any layer's weight or bias changes: its storage, version, dtype or device."""
    return tuple((p.data_ptr(), p._version, p.dtype, p.device)
                 for layer in linears for p in (layer.weight, layer.bias))


class MLPGradient:
    """``(E(x), ∇ₓE(x))`` for ``Linear → act → … → Linear(·, 1)`` layers, without autograd."""

    MAX_CACHED_BATCHES = 4

    def __init__(self, linears: list[nn.Linear], activation: str):
        if activation not in ACTIVATION_KERNELS:
            raise ValueError(f"no hand-written derivative for activation {activation!r}")
        self.linears = linears
        self.activation = activation
        self.forward_kernel, self.backward_kernel = ACTIVATION_KERNELS[activation]
        self._weights_key: tuple | None = None
        self._local = threading.local()

    def __getstate__(self) -> dict:
        """Copies and pickles keep the layers; the caches are rebuilt on first use."""
        return {"linears": self.linears, "activation": self.activation}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["linears"], state["activation"])

    def _augmented_weights(self) -> list[torch.Tensor]:
        """``[Wᵀ; b]`` per layer, rebuilt when a parameter changed (its version or storage)."""
        key = weights_key(self.linears)
        if key != self._weights_key:
            with torch.no_grad():
                self._weights = [torch.cat([layer.weight.t(), layer.bias[None]]).contiguous()
                                 for layer in self.linears]
            self._weights_key = key
        return self._weights

    def _buffers(self, n: int, like: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer ``(z, h_aug)``: pre-activation ``(n, width)`` and activation with a 1-column,
        plus the input with its 1-column as entry 0's ``h_aug``."""
        cache = getattr(self._local, "buffers", None)
        if cache is None:
            cache = self._local.buffers = {}
        key = (n, like.dtype, like.device)
        found = cache.get(key)
        if found is None:
            if len(cache) >= self.MAX_CACHED_BATCHES:
                cache.pop(next(iter(cache)))
            widths = [self.linears[0].in_features] + [layer.out_features for layer in self.linears[:-1]]
            found = cache[key] = [(None if i == 0 else torch.empty(n, width, dtype=like.dtype, device=like.device),
                                   torch.ones(n, width + 1, dtype=like.dtype, device=like.device))
                                  for i, width in enumerate(widths)]
        return found

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        with torch.no_grad():
            weights = self._augmented_weights()
            buffers = self._buffers(n, x)
            buffers[0][1][:, :-1].copy_(x.reshape(n, -1))
            for i in range(1, len(buffers)):
                z, h = buffers[i]
                torch.mm(buffers[i - 1][1], weights[i - 1], out=z)
                self.forward_kernel(z, h[:, :-1])
            energy = torch.mm(buffers[-1][1], weights[-1]).squeeze(1)
            grad = self.linears[-1].weight.expand(n, -1)
            for i in range(len(buffers) - 1, 0, -1):
                z, h = buffers[i]   # z is not needed after this layer: the derivative overwrites it
                grad = self.backward_kernel(grad, z, h[:, :-1], z).mm(self.linears[i - 1].weight)
        return energy, grad.reshape(x.shape)
