"""The partition function of an RBM: exact by enumerating the smaller layer, or by AIS.

At temperature ``T``, ``Z_T = Σ_{v,h} exp(-E(v,h)/T)``. Summing one layer out analytically leaves
``2^min(n_visible, n_hidden)`` terms, which is exact and fast up to about 2^24. For larger
models, annealed importance sampling (Salakhutdinov & Murray, "On the quantitative analysis of
deep belief networks", ICML 2008) moves chains from a base RBM with ``W = 0`` (whose ``Z`` is known)
to the target through ``p_β ∝ p_A^(1-β) p_B^β``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ebm_engine.models.rbm import RBM, base_bias_from_data
from ebm_engine.samplers.state import check_count, check_positive

MAX_ENUMERATED_UNITS = 24


def _all_states(start: int, stop: int, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Binary configurations ``start .. stop-1`` of ``n`` units, one per row."""
    idx = torch.arange(start, stop, device=device, dtype=torch.int64)
    return ((idx.unsqueeze(1) >> torch.arange(n, device=device)) & 1).to(dtype)


def check_finite(values: torch.Tensor, what: str) -> None:
    bad = int((~torch.isfinite(values)).sum())
    if bad:
        raise FloatingPointError(f"{bad} of {values.numel()} {what} are not finite")


@torch.no_grad()
def rbm_log_partition_exact(rbm: RBM, temperature: float = 1.0, chunk_size: int = 1 << 16) -> float:
    """``log Z_T`` by summing ``2^m`` terms, ``m = min(n_visible, n_hidden) <= 24``, in float64.

    Summing over hidden states ``h``: ``log Σ_h exp(h·c/T + Σ_i softplus((b_i + (W h)_i)/T))``;
    over visible states: ``log Σ_v exp(-F_T(v))``. Chunks of ``chunk_size`` states bound memory.
    """
    t = check_positive("temperature", temperature)
    m = min(rbm.n_visible, rbm.n_hidden)
    if m > MAX_ENUMERATED_UNITS:
        raise ValueError(f"exact log Z enumerates 2^{m} states of the smaller layer "
                         f"({rbm.n_visible} visible, {rbm.n_hidden} hidden); it is limited to "
                         f"{MAX_ENUMERATED_UNITS} units: use rbm_log_partition_ais")
    w, b, c = rbm.W.double() / t, rbm.v_bias.double() / t, rbm.h_bias.double() / t
    over_hidden = rbm.n_hidden <= rbm.n_visible
    if not over_hidden:  # the same formula with the layers' roles swapped
        w, b, c = w.t(), c, b
    parts = []
    for start in range(0, 1 << m, chunk_size):
        s = _all_states(start, min(start + chunk_size, 1 << m), m, w.device, torch.float64)
        parts.append(torch.logsumexp(s @ c + F.softplus(s @ w.t() + b).sum(dim=1), dim=0))
    log_z = torch.logsumexp(torch.stack(parts), dim=0)
    check_finite(log_z, "log Z terms")
    return float(log_z)


def ais_betas(n_betas: int) -> torch.Tensor:
    """The inverse-temperature schedule of Salakhutdinov & Murray, scaled to ``n_betas`` points.

    For ``n_betas = 10000``: 500 values in ``[0, 0.5)``, 4000 in ``[0.5, 0.9)``, 5500 in ``[0.9, 1]``
    (the same 5% / 40% / 55% split for other sizes); below 20 points, evenly spaced. Float64,
    first 0, last 1.
    """
    check_count("n_betas", n_betas, 2)
    if n_betas < 20:
        return torch.linspace(0.0, 1.0, n_betas, dtype=torch.float64)
    n1, n2 = round(0.05 * n_betas), round(0.40 * n_betas)
    return torch.cat([torch.linspace(0.0, 0.5, n1 + 1, dtype=torch.float64)[:-1],
                      torch.linspace(0.5, 0.9, n2 + 1, dtype=torch.float64)[:-1],
                      torch.linspace(0.9, 1.0, n_betas - n1 - n2, dtype=torch.float64)])


class AISRun:
    """An annealed-importance-sampling run that can advance a few temperatures at a time.

    Base ``A``: the RBM with ``W = 0``, hidden biases 0 and visible biases ``b_A``, so
    ``p*_A(v) = 2^n_hidden exp(v·b_A)`` and ``log Z_A = Σ_i softplus(b_A_i) + n_hidden log 2``.
    Intermediate ``log p*_β(v) = (1-β) v·b_A + β v·b_B + Σ_j softplus(β (c_j + (vW)_j))`` with the
    target's parameters divided by ``T``. Each transition is one Gibbs sweep that leaves ``p_β``
    invariant: ``h ~ σ(β (c + vW))``, ``v ~ σ((1-β) b_A + β (b_B + W h))``. ``advance(n)`` lets a
    live job spread the work over many small steps; the RBM must not change during the run
    (pass a frozen copy).
    """

    def __init__(self, rbm: RBM, n_chains: int = 100, n_betas: int = 10000,
                 generator: torch.Generator | None = None, base_visible_bias: torch.Tensor | None = None,
                 temperature: float = 1.0):
        t = check_positive("temperature", temperature)
        check_count("n_chains", n_chains, 2)
        self.betas = ais_betas(n_betas)
        device, self.dtype = rbm.W.device, rbm.W.dtype
        self.w, self.b_b, self.c = rbm.W.detach() / t, rbm.v_bias.detach() / t, rbm.h_bias.detach() / t
        if base_visible_bias is None:
            b_a = torch.zeros(rbm.n_visible, device=device, dtype=self.dtype)
        else:
            b_a = torch.as_tensor(base_visible_bias).to(device=device, dtype=self.dtype)
            if b_a.shape != (rbm.n_visible,):
                raise ValueError(f"base_visible_bias must have shape ({rbm.n_visible},), got {tuple(b_a.shape)}")
        check_finite(b_a, "base visible biases")
        self.b_a = b_a
        self.log_z_a = float(F.softplus(b_a.double()).sum()) + rbm.n_hidden * math.log(2.0)
        self.generator = generator
        self.v = torch.bernoulli(torch.sigmoid(b_a).expand(n_chains, -1).contiguous(), generator=generator)
        self.log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
        self.bias_diff = self.b_b - b_a
        self.k = 1

    @property
    def finished(self) -> bool:
        return self.k >= len(self.betas)

    @torch.no_grad()
    def advance(self, n_steps: int | None = None) -> bool:
        """Run up to ``n_steps`` more transitions (all when None); returns ``finished``."""
        stop = len(self.betas) if n_steps is None else min(len(self.betas), self.k + n_steps)
        betas, v, w = self.betas, self.v, self.w
        for k in range(self.k, stop):
            beta, prev = float(betas[k]), float(betas[k - 1])
            pre = torch.addmm(self.c, v, w).double()
            self.log_w += (beta - prev) * (v @ self.bias_diff).double()
            self.log_w += (F.softplus(beta * pre) - F.softplus(prev * pre)).sum(dim=1)
            if k < len(betas) - 1:
                h = torch.bernoulli(torch.sigmoid(beta * pre.to(self.dtype)), generator=self.generator)
                v = torch.bernoulli(torch.sigmoid((1 - beta) * self.b_a + beta * torch.addmm(self.b_b, h, w.t())),
                                    generator=self.generator)
        self.v, self.k = v, stop
        return self.finished

    def estimate(self) -> tuple[float, float]:
        """``(log Z, std)`` from the finished run (see ``rbm_log_partition_ais``)."""
        if not self.finished:
            raise RuntimeError("the AIS run has not finished")
        check_finite(self.log_w, "AIS log weights")
        n = self.log_w.numel()
        log_mean = torch.logsumexp(self.log_w, dim=0) - math.log(n)
        normalised = torch.exp(self.log_w - log_mean)  # mean 1
        std = float(normalised.std(unbiased=True)) / math.sqrt(n)
        return self.log_z_a + float(log_mean), std


def rbm_log_partition_ais(rbm: RBM, n_chains: int = 100, n_betas: int = 10000,
                          generator: torch.Generator | None = None,
                          base_visible_bias: torch.Tensor | None = None, data: torch.Tensor | None = None,
                          temperature: float = 1.0) -> tuple[float, float]:
    """AIS estimate of ``log Z_T`` and its standard deviation: ``(log_z, std)``.

    The base model has ``W = 0`` and visible biases ``base_visible_bias``, or the logits of
    ``data``'s pixel means (the paper's choice, a much closer start), or zeros. ``Ẑ = Z_A · mean(w)``
    is unbiased for ``Z``; ``log Ẑ`` is slightly biased low (Jensen) and so tends to underestimate.
    ``std`` is the delta-method standard deviation of ``log Ẑ``: ``sd(w) / (mean(w) √n_chains)``,
    the paper's ``σ̂/r̂`` (it reports ``log(r̂ ± 3σ̂)``). It comes from the weights themselves, so
    it is optimistic when every chain misses the same mode.
    """
    if base_visible_bias is not None and data is not None:
        raise ValueError("pass either base_visible_bias or data, not both")
    if data is not None:
        base_visible_bias = base_bias_from_data(data)   # AISRun checks its shape
    run = AISRun(rbm, n_chains, n_betas, generator, base_visible_bias, temperature)
    run.advance()
    return run.estimate()


__all__ = ["AISRun", "rbm_log_partition_exact", "rbm_log_partition_ais", "ais_betas",
           "base_bias_from_data", "MAX_ENUMERATED_UNITS"]
