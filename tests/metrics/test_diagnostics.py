"""MCMC diagnostics against series whose answers are known.

- iid N(0, 1) draws: ESS ≈ number of draws.
- Stationary AR(1) with coefficient ρ: integrated autocorrelation time (1 + ρ)/(1 - ρ), so
  ESS ≈ n (1 - ρ)/(1 + ρ), and the autocorrelation at lag k is ρ^k.
- Chains with the same law: R-hat ≈ 1; chains with different means: R-hat well above 1.1.

Sizes are chosen so that the estimators' own spread (a few percent, checked over seeds) is well
inside the tolerances: 20% for iid ESS, 25% for AR(1) ESS, as the spec asks.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from ebm_engine.metrics.diagnostics import autocorrelation, ess, rhat, summarize
from ebm_engine.samplers import SampleRun

RHO = 0.9


def ar1(n_draws: int, n_chains: int, rho: float, seed: int) -> np.ndarray:
    """Stationary AR(1) chains with unit marginal variance, shape (n_draws, n_chains)."""
    rng = np.random.default_rng(seed)
    innovations = rng.normal(size=(n_chains, n_draws)) * np.sqrt(1 - rho ** 2)
    initial = rho * rng.normal(size=(n_chains, 1))       # rho * x_{-1}, x_{-1} ~ N(0, 1)
    x, _ = scipy.signal.lfilter([1.0], [1.0, -rho], innovations, axis=1, zi=initial)
    return x.T


def test_ess_of_iid_draws_is_the_number_of_draws():
    draws = np.random.default_rng(0).normal(size=(2000, 4, 3))   # 8000 draws per dimension
    for kind in ("bulk", "tail"):
        values = ess(draws, kind)
        assert values.shape == (3,)
        assert np.all(np.abs(values / 8000 - 1) < 0.2), (kind, values)


def test_ess_of_ar1_matches_theory():
    x = ar1(10_000, 16, RHO, seed=1)
    theory = x.size * (1 - RHO) / (1 + RHO)               # ≈ 8421 of 160000
    value = ess(x, "bulk")
    assert value.shape == (1,)
    assert abs(value[0] / theory - 1) < 0.25, (value, theory)
    assert value[0] < 0.1 * x.size


def test_rhat_near_one_for_mixed_chains_and_large_for_disagreeing_ones():
    rng = np.random.default_rng(2)
    mixed = rng.normal(size=(1000, 4, 2))
    assert np.all(np.abs(rhat(mixed) - 1) < 0.01)
    shifted = mixed + np.array([0.0, 0.0, 1.0, 1.0])[None, :, None]
    assert np.all(rhat(shifted) > 1.1)


def test_rhat_is_split_and_catches_a_drift_within_chains():
    """Chains that agree with each other but all drift (not yet stationary): only split R-hat sees it."""
    rng = np.random.default_rng(6)
    drifting = rng.normal(size=(1000, 4)) + np.linspace(-2.0, 2.0, 1000)[:, None]
    assert rhat(drifting)[0] > 1.1


def test_autocorrelation_of_ar1():
    x = ar1(10_000, 16, RHO, seed=3)
    acf = autocorrelation(x, max_lag=5)
    assert acf.shape == (6,)
    # Per-chain lag-k estimates have sd ≈ sqrt((1 + ρ²)/(1 - ρ²) / n) ≈ 0.03, and 16 chains are
    # averaged; their bias is about -(1 + ρ)/((1 - ρ) n) = -0.002.
    np.testing.assert_allclose(acf, RHO ** np.arange(6), atol=0.03)
    single = autocorrelation(x[:, 0], max_lag=3)
    assert single.shape == (4,) and single[0] == pytest.approx(1.0)
    assert autocorrelation(np.zeros((50, 2, 3)) + np.arange(50)[:, None, None]).shape == (50, 3)


def test_torch_and_numpy_inputs_agree():
    draws = np.random.default_rng(4).normal(size=(100, 3, 1, 2, 2))
    t = torch.from_numpy(draws).float()
    np.testing.assert_allclose(ess(t), ess(t.numpy()))
    np.testing.assert_allclose(rhat(t), rhat(t.numpy()))
    assert ess(draws).shape == (4,)                       # event (1, 2, 2) flattened


def test_summarize_a_run_and_plain_arrays():
    rng = np.random.default_rng(5)
    samples = torch.from_numpy(rng.normal(size=(200, 8, 2))).float()
    energies = torch.from_numpy(rng.normal(size=(200, 8))).float()
    run = SampleRun(samples=samples, energies=energies, accept_rate=torch.linspace(0.5, 0.9, 8).double(),
                    step_size=0.1, divergences=torch.tensor([0, 1, 0, 0, 2, 0, 0, 0]), n_grad_evals=400,
                    elapsed_s=2.0)
    d = summarize(run)
    assert d["n_draws"] == 200 and d["n_chains"] == 8
    assert d["accept_rate_mean"] == pytest.approx(0.7) and d["accept_rate_min"] == pytest.approx(0.5)
    assert d["divergences"] == 3
    assert d["ess_bulk_min"] == pytest.approx(float(ess(samples).min()))
    assert d["ess_tail_min"] == pytest.approx(float(ess(samples, "tail").min()))
    assert d["rhat_max"] == pytest.approx(float(rhat(samples).max()))
    assert d["ess_per_s"] == pytest.approx(d["ess_bulk_min"] / 2.0)
    assert d["ess_per_grad"] == pytest.approx(d["ess_bulk_min"] / (400 * 8))
    np.testing.assert_allclose(d["energy_trace"], energies.double().mean(1).numpy(), rtol=1e-6)

    plain = summarize(samples.numpy(), elapsed_s=2.0)
    assert plain["ess_bulk_min"] == pytest.approx(d["ess_bulk_min"])
    assert plain["accept_rate_mean"] is None and plain["ess_per_grad"] is None and plain["energy_trace"] is None
    assert plain["ess_per_s"] == pytest.approx(d["ess_per_s"])


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="kind"):
        ess(np.zeros((10, 2)), "mean")
    with pytest.raises(ValueError, match="4 draws"):
        rhat(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n_draws, n_chains"):
        ess(np.zeros(10))
    with pytest.raises(ValueError, match="max_lag"):
        autocorrelation(np.zeros(10), max_lag=10)
