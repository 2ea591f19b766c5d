"""MCMC diagnostics: effective sample size, R-hat, autocorrelation and a run summary.

ESS and R-hat come from arviz-stats' array interface (``arviz_stats.base.array_stats``), which
implements Vehtari et al. (2021): rank-normalised split-chain bulk ESS, tail ESS (the smaller
quantile ESS at 5% and 95%) and rank-normalised split R-hat. Nothing here re-derives them.

Sample arrays follow the driver's layout ``(n_draws, n_chains, *event_shape)``; event dimensions
are flattened, so per-dimension results have shape ``(prod(event_shape),)``. A trace of shape
``(n_draws, n_chains)`` (e.g. energies) is one dimension. numpy arrays and torch tensors are both
accepted; results are numpy arrays and Python floats (snapshot-friendly).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from arviz_stats.base import array_stats

TAIL_PROB = (0.05, 0.95)
"""Quantiles whose ESS defines the tail ESS (Vehtari et al. 2021)."""


def _as_numpy(a: Any) -> np.ndarray:
    """float64 numpy view of a numpy array, a torch tensor (any device) or a nested sequence."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def _draws_chains_dims(samples: Any) -> np.ndarray:
    """``(n_draws, n_chains, *event) -> (n_draws, n_chains, n_dims)``."""
    arr = _as_numpy(samples)
    if arr.ndim < 2:
        raise ValueError(f"samples must have shape (n_draws, n_chains, *event_shape), got {arr.shape}")
    if arr.shape[0] < 4:
        raise ValueError(f"ESS and R-hat need at least 4 draws per chain, got {arr.shape[0]}")
    return arr.reshape(arr.shape[0], arr.shape[1], -1)


def ess(samples: Any, kind: str = "bulk") -> np.ndarray:
    """Effective sample size per dimension, pooled over chains: ``kind`` is ``"bulk"`` or ``"tail"``."""
    if kind not in ("bulk", "tail"):
        raise ValueError(f"kind must be 'bulk' or 'tail', got {kind!r}")
    arr = _draws_chains_dims(samples)
    prob = TAIL_PROB if kind == "tail" else None
    return np.asarray(array_stats.ess(arr, chain_axis=1, draw_axis=0, method=kind, prob=prob), dtype=np.float64)


def rhat(samples: Any) -> np.ndarray:
    """Rank-normalised split R-hat per dimension (≈ 1 when chains agree; > 1.01 is suspicious)."""
    arr = _draws_chains_dims(samples)
    return np.asarray(array_stats.rhat(arr, chain_axis=1, draw_axis=0, method="rank"), dtype=np.float64)


def autocorrelation(trace: Any, max_lag: int | None = None) -> np.ndarray:
    """Autocorrelation at lags ``0..max_lag`` along the draws (axis 0).

    ``trace`` is ``(n_draws,)`` or ``(n_draws, n_chains, *event)``; with chains the per-chain
    autocorrelations are averaged over chains, giving ``(max_lag + 1, *event)``. ``max_lag``
    defaults to ``min(n_draws - 1, 100)``. A constant chain has no defined autocorrelation (NaN).
    """
    arr = _as_numpy(trace)
    if arr.ndim < 1 or arr.shape[0] < 2:
        raise ValueError(f"trace needs at least 2 draws along axis 0, got shape {arr.shape}")
    n_draws = arr.shape[0]
    if max_lag is None:
        max_lag = min(n_draws - 1, 100)
    if isinstance(max_lag, bool) or not isinstance(max_lag, int) or not 0 <= max_lag < n_draws:
        raise ValueError(f"max_lag must be an integer in [0, {n_draws - 1}], got {max_lag!r}")
    # arviz's autocorr wants the draw axis last (axis=0 is mishandled there).
    acf = array_stats.autocorr(np.moveaxis(arr, 0, -1), axis=-1)[..., : max_lag + 1]
    acf = np.moveaxis(acf, -1, 0)
    return acf.mean(axis=1) if acf.ndim > 1 else acf


def summarize(run_or_samples: Any, elapsed_s: float | None = None, n_grad_evals: int | None = None, *,
              energies: Any = None, accept_rate: Any = None, divergences: Any = None) -> dict[str, Any]:
    """Summary of a ``SampleRun`` (or of a samples array plus the keyword arrays that are known).

    Returns plain numbers and numpy arrays: ``n_draws``, ``n_chains``, ``accept_rate_mean``,
    ``accept_rate_min``, ``divergences`` (total over chains), ``ess_bulk_min``, ``ess_tail_min``,
    ``rhat_max``, ``ess_per_s`` (min bulk ESS per second of sampling), ``ess_per_grad`` (min bulk
    ESS per gradient evaluation, all chains together: ``n_grad_evals`` is per chain) and
    ``energy_trace`` (mean energy over chains per draw). Quantities whose inputs are missing are None.
    """
    samples = run_or_samples
    if hasattr(run_or_samples, "samples"):   # a SampleRun carries every input
        run = run_or_samples
        samples, elapsed_s, n_grad_evals = run.samples, run.elapsed_s, run.n_grad_evals
        energies, accept_rate, divergences = run.energies, run.accept_rate, run.divergences
    arr = _draws_chains_dims(samples)
    n_draws, n_chains = arr.shape[:2]
    ess_bulk_min = float(np.min(ess(arr, "bulk")))
    ess_tail_min = float(np.min(ess(arr, "tail")))
    rhat_max = float(np.max(rhat(arr)))
    accept = None if accept_rate is None else _as_numpy(accept_rate)
    total_grads = None if n_grad_evals is None else float(n_grad_evals) * n_chains
    return {
        "n_draws": int(n_draws),
        "n_chains": int(n_chains),
        "accept_rate_mean": None if accept is None else float(accept.mean()),
        "accept_rate_min": None if accept is None else float(accept.min()),
        "divergences": None if divergences is None else int(_as_numpy(divergences).sum()),
        "ess_bulk_min": ess_bulk_min,
        "ess_tail_min": ess_tail_min,
        "rhat_max": rhat_max,
        "ess_per_s": None if not elapsed_s else ess_bulk_min / float(elapsed_s),
        "ess_per_grad": None if not total_grads else ess_bulk_min / total_grads,
        "energy_trace": None if energies is None else _as_numpy(energies).reshape(n_draws, -1).mean(axis=1),
    }
