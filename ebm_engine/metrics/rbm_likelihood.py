"""Likelihoods of binary data under an RBM: the exact log-likelihood given ``log Z``, and the
pseudo-log-likelihood, the cheap proxy that needs no partition function."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ebm_engine.metrics.rbm_partition import check_finite
from ebm_engine.models.rbm import RBM
from ebm_engine.samplers.state import check_positive


def _check_binary(rbm: RBM, data: torch.Tensor) -> torch.Tensor:
    if data.dim() != 2 or data.shape[1] != rbm.n_visible or data.shape[0] < 1:
        raise ValueError(f"data must have shape (N >= 1, {rbm.n_visible}), got {tuple(data.shape)}")
    data = data.to(device=rbm.W.device, dtype=rbm.W.dtype)
    if not ((data == 0) | (data == 1)).all():
        raise ValueError("data must be binary (0/1): a likelihood of grey values is not defined for a "
                         "Bernoulli RBM; binarise first")
    return data


@torch.no_grad()
def rbm_log_likelihood(rbm: RBM, data: torch.Tensor, log_z: float, temperature: float = 1.0) -> float:
    """Mean ``log p_T(v)`` in nats over binary ``data``: ``mean(-F_T(v)) - log Z_T``.

    ``log_z`` must be for the same temperature (``rbm_log_partition_exact`` or ``_ais``).
    """
    t = check_positive("temperature", temperature)
    if not math.isfinite(log_z):
        raise ValueError(f"log_z must be finite, got {log_z}")
    f = rbm.free_energy(_check_binary(rbm, data), t).double()
    check_finite(f, "free energies")
    return float(-f.mean()) - log_z


@torch.no_grad()
def pseudo_likelihood(rbm: RBM, data: torch.Tensor, generator: torch.Generator | None = None,
                      temperature: float = 1.0, exact: bool = False) -> float:
    """Mean pseudo-log-likelihood ``Σ_i log p_T(v_i | v_-i)`` in nats over binary ``data``.

    Stochastic (default, as scikit-learn's ``score_samples``): one random unit ``i`` per sample,
    ``n_visible · log σ(F_T(ṽ) - F_T(v))`` with ``ṽ`` = ``v`` with bit ``i`` flipped; unbiased for
    the exact sum. ``exact=True`` sums over every unit (``n_visible`` times the cost).
    """
    t = check_positive("temperature", temperature)
    v = _check_binary(rbm, data)
    n, d = v.shape
    f = rbm.free_energy(v, t)
    if exact:
        pl = torch.zeros(n, dtype=torch.float64, device=v.device)
        for i in range(d):  # one flipped copy per unit; vectorised over the batch
            flipped = v.clone()
            flipped[:, i] = 1 - flipped[:, i]
            pl += F.logsigmoid(rbm.free_energy(flipped, t) - f).double()
    else:
        device = generator.device if generator is not None else torch.device("cpu")
        idx = torch.randint(0, d, (n,), generator=generator, device=device).to(v.device)
        rows = torch.arange(n, device=v.device)
        flipped = v.clone()
        flipped[rows, idx] = 1 - flipped[rows, idx]
        pl = d * F.logsigmoid(rbm.free_energy(flipped, t) - f).double()
    check_finite(pl, "pseudo-log-likelihoods")
    return float(pl.mean())


__all__ = ["rbm_log_likelihood", "pseudo_likelihood"]
