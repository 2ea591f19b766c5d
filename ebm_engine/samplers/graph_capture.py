"""Replaying a tensor function as one CUDA graph: the launch overhead of its kernels is paid once.

``GraphedFunction(fn, example)`` captures ``fn(*inputs)`` (tensors in, a tuple of tensors out) on
static copies of the example inputs. A call copies the new inputs into those buffers, replays the
graph and returns clones of the outputs (the next replay overwrites them). The function must not
sync with the host and must keep its shapes, dtypes and device; its module weights are read from
their memory at every replay, so in-place optimiser updates are seen.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def backend_for(backend: str, x: torch.Tensor) -> str:
    """The backend a step on ``x`` runs with: ``"auto"`` and ``"cuda_graph"`` run eagerly off CUDA."""
    if backend in ("auto", "cuda_graph"):
        return "cuda_graph" if x.is_cuda else "eager"
    return backend


class GraphedFunction:
    """``fn`` captured on CUDA for inputs shaped like ``example``."""

    def __init__(self, fn: Callable[..., tuple[torch.Tensor, ...]], example: Sequence[torch.Tensor],
                 warmup: int = 3):
        self.inputs = [t.detach().clone() for t in example]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):   # warm-up outside the capture (allocator, lazy initialisation)
            for _ in range(warmup):
                fn(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = tuple(fn(*self.inputs))

    def __call__(self, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        for static, value in zip(self.inputs, values):
            static.copy_(value)
        self.graph.replay()
        return tuple(t.clone() for t in self.outputs)
