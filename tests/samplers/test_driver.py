"""The driver: the public call, output shapes and dtypes for points and images, bookkeeping
(keep_every, callback, counts), determinism, validation, and ULA's step-size bias through it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ebm_engine.energies.base import FunctionEnergy
from ebm_engine.energies.targets import Gaussian
from ebm_engine.metrics.diagnostics import ess
from ebm_engine.samplers import HMC, KERNELS, MALA, Langevin, SampleRun, sample

MEAN = torch.tensor([1.0, -1.0])
COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
TARGET = Gaussian(MEAN, COV)
Z = 5.0


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_public_contract_call_recovers_the_mean():
    """The call other code relies on (fewer steps than in production); mean within 5 ESS-based SEs."""
    x0 = TARGET.sample(64, gen(1))
    run = sample(TARGET, x0, HMC(n_leapfrog=10), n_steps=300, step_size=0.2, temperature=1.0, warmup=100,
                 generator=torch.Generator().manual_seed(0))
    assert isinstance(run, SampleRun)
    assert run.samples.shape == (300, 64, 2)
    assert run.accept_rate.shape == (64,)
    assert isinstance(run.step_size, float) and run.step_size != 0.2   # adapted during warm-up
    draws = run.samples.double()
    ess_bulk = ess(draws, "bulk")
    se = np.sqrt(np.diag(COV.numpy()) / ess_bulk)
    err = np.abs(draws.reshape(-1, 2).mean(0).numpy() - MEAN.numpy())
    assert (err < Z * se).all(), (err, se)
    assert (ess_bulk > 1000).all()   # HMC on a 2D Gaussian: far from stuck


@pytest.mark.parametrize("kernel", ["langevin", "mala", "hmc"])
@pytest.mark.parametrize("event_shape", [(2,), (1, 8, 8)], ids=["points", "images"])
def test_output_shapes_and_types(kernel, event_shape):
    energy = FunctionEnergy(lambda x: 0.5 * (x ** 2).flatten(1).sum(1))
    x0 = torch.randn(6, *event_shape, generator=gen(2), dtype=torch.float64)
    run = sample(energy, x0, kernel, n_steps=10, step_size=0.1, warmup=3, generator=gen(3), keep_every=3)
    per_step = KERNELS[kernel]().n_leapfrog if kernel == "hmc" else 1
    assert run.samples.shape == (3, 6, *event_shape) and run.samples.dtype == torch.float32
    assert run.samples.device.type == "cpu"
    assert run.energies.shape == (3, 6) and run.energies.dtype == torch.float32
    assert run.accept_rate.shape == (6,) and ((run.accept_rate >= 0) & (run.accept_rate <= 1)).all()
    assert run.divergences.shape == (6,) and run.divergences.dtype == torch.int64
    assert run.n_grad_evals == 10 * per_step
    assert run.elapsed_s > 0 and isinstance(run.step_size, float)
    assert run.final_state.x.dtype == torch.float64          # computed in x0's dtype
    recomputed = energy(run.samples.double().flatten(0, 1)).reshape(3, 6).float()
    torch.testing.assert_close(run.energies, recomputed)


def test_kept_samples_are_the_states_at_every_keep_every_th_step():
    seen = []
    run = sample(TARGET, TARGET.sample(5, gen(4)), MALA(), n_steps=10, step_size=0.2, warmup=4, generator=gen(5),
                 keep_every=3, callback=lambda i, state, info: seen.append((i, state.x.clone(), info)))
    assert [i for i, _, _ in seen] == list(range(14))
    expected = torch.stack([seen[4 + k][1] for k in (2, 5, 8)])  # sampling steps 3, 6, 9
    assert torch.equal(run.samples, expected)
    accepted = torch.stack([info.accepted for _, _, info in seen[4:]]).double()
    torch.testing.assert_close(run.accept_rate, accepted.mean(0))


def test_driver_equals_a_hand_written_loop():
    x0 = TARGET.sample(8, gen(6))
    run = sample(TARGET, x0, "hmc", n_steps=5, step_size=0.3, generator=gen(7))
    kernel, g = HMC(), gen(7)
    state = kernel.init(TARGET, x0)
    for k in range(5):
        state, _ = kernel.step(TARGET, state, 0.3, 1.0, g)
        assert torch.equal(run.samples[k], state.x)
    again = sample(TARGET, x0, "hmc", n_steps=5, step_size=0.3, generator=gen(7))
    assert torch.equal(run.samples, again.samples)


def test_counts_cover_the_sampling_phase_only():
    def energy_fn(x):
        e = TARGET(x)
        return torch.where(x[:, 0] < -50, torch.full_like(e, float("nan")), e)

    x0 = TARGET.sample(10, gen(8))
    x0[3] = -100.0
    run = sample(FunctionEnergy(energy_fn), x0, "mala", n_steps=12, step_size=0.2, warmup=5, generator=gen(9))
    assert run.accept_rate[3] == 0 and int(run.divergences[3]) == 12
    assert int(run.divergences.sum()) == 12                # no other chain diverged
    assert torch.isnan(run.energies[:, 3]).all()       # reported as is, never replaced
    assert torch.equal(run.samples[:, 3], torch.full((12, 2), -100.0))


def test_diagnostics_convenience():
    run = sample(TARGET, TARGET.sample(16, gen(10)), "mala", n_steps=40, step_size=0.3, generator=gen(11))
    d = run.diagnostics()
    assert d["n_draws"] == 40 and d["n_chains"] == 16
    assert d["ess_per_grad"] == pytest.approx(d["ess_bulk_min"] / (40 * 16))
    assert d["energy_trace"].shape == (40,)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_steps": 0}, "n_steps"), ({"n_steps": 2.0}, "n_steps"), ({"warmup": -1}, "warmup"),
    ({"keep_every": 0}, "keep_every"), ({"keep_every": 11}, "keep_every"), ({"step_size": 0.0}, "step_size"),
    ({"temperature": -1.0}, "temperature"), ({"kernel": "nuts"}, "unknown kernel"), ({"kernel": object()}, "kernel")])
def test_invalid_arguments_raise(kwargs, match):
    args = {"energy": TARGET, "x0": torch.zeros(2, 2), "kernel": "mala", "n_steps": 10, "step_size": 0.1} | kwargs
    with pytest.raises(ValueError, match=match):
        sample(**args)


def whitened_cov_error(x: torch.Tensor) -> float:
    """``||W Ĉ Wᵀ - I||_F`` with ``W = Σ^{-1/2}``-like whitening: a scale-free covariance error."""
    w = TARGET.whiten.double()
    c = w @ torch.cov(x.double().T) @ w.T
    return float(torch.linalg.matrix_norm(c - torch.eye(2, dtype=torch.float64)))


def test_ula_bias_shrinks_with_the_step_size():
    """Unadjusted Langevin's stationary covariance is biased by O(ε).

    With precision eigenvalues λ = 1/0.2 and 1/1.8, the whitened variances are 1 / (1 - ελ/2):
    2.0 and 1.06 at ε = 0.2 (error ≈ 1.0), 1.14 and 1.01 at ε = 0.05 (error ≈ 0.15). With n chains
    a whitened covariance estimate is off by about sqrt(6/n) times its scale (≤ 2) in norm.
    """
    n = 10_000
    x0 = TARGET.sample(n, gen(12))
    errors = {}
    for eps in (0.2, 0.05):
        run = sample(TARGET, x0, Langevin(), n_steps=1, step_size=eps, warmup=300, generator=gen(13))
        errors[eps] = whitened_cov_error(run.samples[-1])
    se = 2.0 * math.sqrt(6.0 / n)
    assert errors[0.2] - errors[0.05] > Z * se, errors
    assert errors[0.2] == pytest.approx(math.hypot(1.0, 1 / (1 - 0.2 / 3.6) - 1), abs=Z * se)


def test_langevin_counts_mix_settled_and_divergent_steps():
    """Steps where every chain moves are counted in bulk; the others per chain: both must add up."""
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        e = TARGET(x)
        if calls["n"] % 3 == 0:                         # every third evaluation poisons chain 2
            e = e.clone()
            e[2] = float("nan")
        return e

    x0 = TARGET.sample(5, gen(10))
    run = sample(FunctionEnergy(flaky), x0, "langevin", n_steps=30, step_size=0.05, generator=gen(11))
    # evaluation 1 is init; step j (1-based) is evaluation j + 1: poisoned when (j + 1) % 3 == 0
    poisoned_steps = sum((j + 1) % 3 == 0 for j in range(1, 31))
    assert int(run.divergences[2]) == poisoned_steps == 10
    assert int(run.divergences.sum()) == poisoned_steps
    assert run.accept_rate[2] == pytest.approx(1 - poisoned_steps / 30)
    assert torch.equal(run.accept_rate[[0, 1, 3, 4]], torch.ones(4, dtype=run.accept_rate.dtype))


@pytest.mark.parametrize("kernel", [Langevin(), MALA(), HMC(n_leapfrog=3)], ids=["langevin", "mala", "hmc"])
def test_a_run_continued_from_its_final_state_is_the_longer_run(kernel):
    """Continuing from ``final_state`` takes the same draws as one run twice as long, and evaluates
    the energy only for its own steps (not again at its start)."""
    target = Gaussian(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.5, 2.0]]))
    x0 = torch.randn(16, 2, generator=gen(1))
    whole = sample(target, x0, kernel, n_steps=20, step_size=0.3, generator=gen(2))
    first_half_gen = gen(2)
    first = sample(target, x0, kernel, n_steps=10, step_size=0.3, generator=first_half_gen)
    calls = []
    counting = FunctionEnergy(lambda x: (calls.append(1), target.energy(x))[1])
    counting.energy_and_grad = lambda x: (calls.append(1), target.energy_and_grad(x))[1]
    second = sample(counting, first.final_state, kernel, n_steps=10, step_size=0.3, generator=first_half_gen)
    torch.testing.assert_close(second.samples, whole.samples[10:], rtol=0, atol=0)
    assert len(calls) == 10 * (getattr(kernel, "n_leapfrog", 1))
