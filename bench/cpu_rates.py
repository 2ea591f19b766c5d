"""This machine's own rates that the samplers bench judges against, measured in the same run:
the sustained GEMM rate at a given shape, and the time of an MLP's activation work."""
from __future__ import annotations

import statistics
import time

import torch


def gemm_rate(m: int, k: int, n: int, seconds: float = 1.0, bias: bool = True) -> float:
    """Sustained float32 GEMM rate (FLOP/s), median of timed batches of (m×k)·(k×n) [+ bias]."""
    a, w, b = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
    out = torch.empty(m, n)
    op = (lambda: torch.addmm(b, a, w.t(), out=out)) if bias else (lambda: torch.mm(a, w.t(), out=out))
    for _ in range(3):
        op()
    t0 = time.perf_counter()
    op()
    per = max(time.perf_counter() - t0, 1e-6)
    reps = max(1, int(0.1 / per))
    rates = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(rates) < 5:
        t0 = time.perf_counter()
        for _ in range(reps):
            op()
        rates.append(2.0 * m * k * n * reps / (time.perf_counter() - t0))
    return statistics.median(rates)


def silu_seconds(m: int, n: int, seconds: float = 1.0) -> float:
    """Median seconds of the MLP's activation work in one gradient evaluation at ``m`` chains: SiLU
    forward and its derivative (torch's fused ``silu_backward``) on both ``(m, n)`` hidden layers."""
    z, g, out = torch.randn(m, n), torch.randn(m, n), torch.empty(m, n)

    def op() -> None:
        for _ in range(2):
            torch.ops.aten.silu.out(z, out=out)
            torch.ops.aten.silu_backward.grad_input(g, z, grad_input=out)

    for _ in range(3):
        op()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        op()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
