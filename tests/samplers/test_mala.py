"""MALA: exact MH ratio, stationary moments at T = 1 and T = 2, per-chain independence, NaN handling.

Statistical checks run ``N_CHAINS`` independent chains from an overdispersed start (covariance
4Σ) long enough to forget it (150 steps; the slow mode contracts by a factor of about 0.9 per
step), then look at the final positions: independent draws from the target if the kernel is right. With ``n``
iid draws from ``N(μ, C)`` the sample mean has standard error ``sqrt(C_ii / n)`` and the sample
covariance entry ``(i, j)`` has ``sqrt((C_ii C_jj + C_ij²) / n)``. Every check allows ``Z`` = 5
standard errors; the broken kernel must miss by more than ``Z``.
"""
from __future__ import annotations

import math

import pytest
import torch

from ebm_engine.energies.base import Energy, FunctionEnergy
from ebm_engine.energies.targets import Gaussian
from tests.samplers.gaussian_target import (accept_dispersion, COV, MEAN, N_CHAINS, TARGET, Z, final_positions, gen,
                                            moment_z_scores, overdispersed_start, run_chains)
from ebm_engine.samplers import MALA, SamplerState

def run(kernel, energy: Energy, x0: torch.Tensor, step_size: float, n_steps: int, temperature: float = 1.0,
        seed: int = 1) -> tuple[SamplerState, torch.Tensor]:
    state, accepted = run_chains(kernel, energy, x0, step_size, n_steps, temperature, seed)
    return state, accepted.float().mean(0)


class MALANoProposalCorrection(MALA):
    """Broken on purpose: treats the Langevin proposal as symmetric (drops both q terms)."""

    def log_proposal(self, x_to, x_from, grad_from, step_size, temperature):
        return torch.zeros(x_to.shape[0], dtype=x_to.dtype)


@pytest.mark.parametrize("temperature, step_size", [(1.0, 0.2), (2.0, 0.3)])
def test_recovers_gaussian_mean_and_tempered_covariance(temperature, step_size):
    x, accept = final_positions(MALA(), overdispersed_start(N_CHAINS, 0), step_size, 150, temperature)
    z = moment_z_scores(x, MEAN, temperature * COV)
    assert (z < Z).all(), z
    assert 0.5 < float(accept.mean()) < 0.95  # it actually moved, with a sensible acceptance


def test_wrong_temperature_is_detected():
    """The same check run at T = 2 rejects T = 1 covariance: the doubling is resolved."""
    x, _ = final_positions(MALA(), overdispersed_start(N_CHAINS, 0), 0.4, 150, 2.0)
    assert (moment_z_scores(x, MEAN, COV)[2:] > 10 * Z).all()


def test_dropping_the_proposal_correction_is_detected():
    x, _ = final_positions(MALANoProposalCorrection(), overdispersed_start(N_CHAINS, 0), 0.2, 150)
    z = moment_z_scores(x, MEAN, COV)
    assert z[2:].max() > 4 * Z, z   # covariance shrinks to about half: dozens of standard errors


def test_accept_probability_matches_independent_formula():
    """One step in float64 against log densities written with torch.distributions."""
    target = Gaussian(MEAN.double(), COV.double()).double()
    x = target.sample(64, gen(3)) * 1.5
    eps, temp = 0.3, 1.7
    kernel = MALA()
    state = kernel.init(target, x)
    g = gen(4)
    noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
    u = torch.rand(64, generator=g, dtype=torch.float64)
    new_state, info = kernel.step(target, state, eps, temp, gen(4))

    _, grad = target.energy_and_grad(x)
    prop = x - eps / temp * grad + math.sqrt(2 * eps) * noise
    _, grad_prop = target.energy_and_grad(prop)
    q = torch.distributions.Normal
    log_fwd = q(x - eps / temp * grad, math.sqrt(2 * eps)).log_prob(prop).sum(1)
    log_rev = q(prop - eps / temp * grad_prop, math.sqrt(2 * eps)).log_prob(x).sum(1)
    log_alpha = (target.log_prob(prop) - target.log_prob(x)) / temp + log_rev - log_fwd
    expected = log_alpha.exp().clamp(max=1.0)
    torch.testing.assert_close(info.accept_prob, expected, rtol=1e-9, atol=1e-12)
    assert torch.equal(info.accepted, u < expected)
    assert 0 < int(info.accepted.sum()) < 64  # both branches exercised
    keep = info.accepted[:, None]
    torch.testing.assert_close(new_state.x, torch.where(keep, prop, x))
    torch.testing.assert_close(new_state.energy, torch.where(info.accepted, target(prop), target(x)))
    assert info.n_grad_evals == 1


def test_one_gradient_per_step_reusing_the_cache():
    calls = []

    class Counting(Energy):
        def energy(self, x):
            calls.append(x.shape[0])
            return 0.5 * (x ** 2).sum(1)

    energy = Counting()
    kernel = MALA()
    state = kernel.init(energy, torch.zeros(5, 2))
    for _ in range(7):
        state, info = kernel.step(energy, state, 0.1, generator=gen(0))
    assert len(calls) == 1 + 7 and info.n_grad_evals == 1


def test_far_away_chain_does_not_change_other_chains():
    """Same generator, one chain moved far away: every other chain's decisions are identical."""
    x0 = TARGET.sample(500, gen(5))
    far = x0.clone()
    far[0] = torch.tensor([1e3, -2e3])
    kernel = MALA()
    traces = []
    for start in (x0, far):
        g, state, acc = gen(6), kernel.init(TARGET, start), []
        for _ in range(40):
            state, info = kernel.step(TARGET, state, 0.2, 1.0, g)
            acc.append(info.accepted)
        traces.append((torch.stack(acc), state.x))
    (acc_ref, x_ref), (acc_far, x_far) = traces
    assert torch.equal(acc_ref[:, 1:], acc_far[:, 1:])
    assert torch.equal(x_ref[1:], x_far[1:])
    assert not acc_far[:, 0].all()  # the far chain overshoots and is rejected at least sometimes


def test_nan_energy_chains_reject_and_stay_others_unaffected():
    bad = torch.tensor([False, True, False, True] + [False] * 60)

    def energy_fn(x):
        e = TARGET(x)
        return torch.where(x[:, 0] < -50, torch.full_like(e, float("nan")), e)

    energy = FunctionEnergy(energy_fn)
    x0 = TARGET.sample(64, gen(7))
    x_bad = x0.clone()
    x_bad[bad] = -100.0
    kernel = MALA()
    results = []
    for start in (x0, x_bad):
        g, state = gen(8), kernel.init(energy, start)
        infos = []
        for _ in range(20):
            state, info = kernel.step(energy, state, 0.2, 1.0, g)
            infos.append(info)
        results.append((state, infos))
    (s_ref, i_ref), (s_bad, i_bad) = results
    assert torch.equal(s_bad.x[bad], x_bad[bad])                      # stayed put
    for info_ref, info in zip(i_ref, i_bad):
        assert not info.accepted[bad].any()
        assert (info.accept_prob[bad] == 0).all() and info.divergent[bad].all()
        assert torch.isnan(info.energy[bad]).all()                     # reported, not masked
        assert torch.equal(info.accepted[~bad], info_ref.accepted[~bad])
        assert not info.divergent[~bad].any()
    assert torch.equal(s_bad.x[~bad], s_ref.x[~bad])


def test_decisions_are_independent_bernoulli_per_chain():
    """Given the reported accept_prob p, decisions must be independent Bernoulli(p) across chains."""
    n_steps = 100
    dispersion = accept_dispersion(MALA(), step_size=0.9, n_steps=n_steps)
    assert abs(dispersion - 1.0) < Z * (2.0 / n_steps) ** 0.5, dispersion


def test_image_shaped_events_sample_a_standard_normal():
    """Per-chain reductions cover every event dimension: (n, 1, 8, 8) standard normal."""
    energy = FunctionEnergy(lambda x: 0.5 * (x ** 2).flatten(1).sum(1))
    x0 = 3.0 * torch.randn(200, 1, 8, 8, generator=gen(11))
    state, accept = run(MALA(), energy, x0, 0.3, 150, seed=12)
    pixels = state.x.flatten(1).double()   # 200 chains x 64 independent N(0,1) coordinates
    n = pixels.numel()
    assert abs(float(pixels.mean())) < Z / math.sqrt(n)
    assert abs(float(pixels.var()) - 1.0) < Z * math.sqrt(2.0 / n)
    assert 0.3 < float(accept.mean()) < 0.95


@pytest.mark.parametrize("bad", [0.0, -0.1, float("inf"), float("nan")])
def test_invalid_step_size_and_temperature_raise(bad):
    kernel = MALA()
    state = kernel.init(TARGET, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="step_size"):
        kernel.step(TARGET, state, bad)
    with pytest.raises(ValueError, match="temperature"):
        kernel.step(TARGET, state, 0.1, temperature=bad)
