"""HMC: exact leapfrog and MH test, stationary moments at T = 1 and T = 2, per-chain decisions,
divergences and NaN handling, no autograd graph.

Statistical checks run ``N_CHAINS`` independent chains from an overdispersed start (covariance 4Σ)
for 60 iterations (each of 10 leapfrog steps: many relaxation times), then test the final
positions, independent draws from the target if the kernel is right: sample mean standard error
``sqrt(C_ii / n)``, covariance entry ``sqrt((C_ii C_jj + C_ij²) / n)``, ``Z`` = 5 standard errors.
"""
from __future__ import annotations

import math

import pytest
import torch

from ebm_engine.energies.base import Energy, FunctionEnergy
from ebm_engine.energies.targets import Gaussian
from tests.samplers.gaussian_target import (accept_dispersion, CHUNK, COV, MEAN, N_CHAINS, TARGET, Z, final_positions, gen,
                                            moment_z_scores, overdispersed_start, run_chains)
from ebm_engine.samplers import HMC, SamplerState, StepInfo, metropolis_select
from ebm_engine.samplers.state import per_chain_sum

def run(kernel, energy: Energy, x0: torch.Tensor, step_size: float, n_steps: int, temperature: float = 1.0,
        seed: int = 1) -> tuple[SamplerState, torch.Tensor, torch.Tensor]:
    state, accepted = run_chains(kernel, energy, x0, step_size, n_steps, temperature, seed)
    return state, accepted.float().mean(0), accepted


class HMCBatchAccept(HMC):
    """Broken on purpose: one uniform and one decision for the whole batch, on the summed energy error."""

    def transition(self, energy, state, draws, step_size, temperature):
        n = state.x.shape[0]
        p0, *_, u = draws
        x, p, e, g = self.leapfrog(energy, state, p0, step_size, temperature)
        log_alpha = -((e - state.energy) / temperature + 0.5 * per_chain_sum(p * p - p0 * p0)).sum()
        shared = u[0]
        new_state, accepted, accept_prob = metropolis_select(state, x, e, g, log_alpha.expand(n),
                                                             torch.isfinite(log_alpha).expand(n), shared.expand(n))
        return new_state, StepInfo(accepted, accept_prob, ~accepted & False, new_state.energy, self.n_leapfrog)


@pytest.mark.parametrize("temperature, step_size, jitter", [(1.0, 0.5, 0.1), (1.0, 0.5, 0.0), (2.0, 0.7, 0.1)])
def test_recovers_gaussian_mean_and_tempered_covariance(temperature, step_size, jitter):
    kernel = HMC(n_leapfrog=10, jitter=jitter)
    x, accept = final_positions(kernel, overdispersed_start(N_CHAINS, 0), step_size, 60, temperature)
    assert (moment_z_scores(x, MEAN, temperature * COV) < Z).all()
    if temperature == 2.0:  # the doubling is resolved: the T = 1 covariance is far outside the band
        assert (moment_z_scores(x, MEAN, COV)[2:] > 10 * Z).all()
    assert 0.6 < float(accept.mean()) < 1.0


def test_batch_wide_accept_is_detected():
    """A single decision on the summed energy error is detected by its acceptance pattern.

    It is a valid MH kernel on the product space of all chains (the summed H is the joint H), so
    its moments are right in the limit, but it mixes hopelessly: decisions are all-or-nothing, the
    acceptance collapses as chains are added (it also fails the moment test above from an
    overdispersed start), and one bad chain dictates all others
    (see ``test_far_away_chain_does_not_touch_the_others``).
    """
    x0 = TARGET.sample(CHUNK, gen(0))
    _, accept_ok, accepted_ok = run(HMC(n_leapfrog=10), TARGET, x0, 0.4, 30)
    _, accept_bad, accepted_bad = run(HMCBatchAccept(n_leapfrog=10), TARGET, x0, 0.4, 30)
    assert all(row.all() or not row.any() for row in accepted_bad)
    assert all(0 < int(row.sum()) < row.numel() for row in accepted_ok)
    # Binomial standard error of the mean acceptance is < 0.003 for the correct kernel.
    assert float(accept_ok.mean()) > 0.8 and float(accept_bad.mean()) < 0.5


def test_decisions_are_per_chain():
    """With a correct kernel, steps where chains disagree are the rule, not the exception."""
    _, _, accepted = run(HMC(n_leapfrog=5), TARGET, TARGET.sample(200, gen(2)), 0.6, 30)
    mixed = torch.tensor([0 < int(row.sum()) < row.numel() for row in accepted])
    assert mixed.all()
    _, _, broken = run(HMCBatchAccept(n_leapfrog=5), TARGET, TARGET.sample(200, gen(2)), 0.6, 30)
    assert not any(0 < int(row.sum()) < row.numel() for row in broken)


def test_matches_an_independent_leapfrog_and_metropolis_test():
    target = Gaussian(MEAN.double(), COV.double()).double()
    x = 1.5 * target.sample(64, gen(3))
    eps, temp, n_leap = 0.8, 1.3, 4   # ε √(λ_max / T) ≈ 1.6: stable but far from exact
    kernel = HMC(n_leapfrog=n_leap, jitter=0.0)
    new_state, info = kernel.step(target, kernel.init(target, x), eps, temp, gen(4))

    g = gen(4)
    p0 = torch.randn(x.shape, generator=g, dtype=torch.float64)
    u = torch.rand(64, generator=g, dtype=torch.float64)

    precision = target.whiten.T @ target.whiten  # Σ⁻¹ exactly as the energy stores it

    def grad_u(z):  # ∇(E/T) by hand: E = ½ (z-μ)ᵀ Σ⁻¹ (z-μ) + const
        return (z - target.mean) @ precision / temp

    q, p = x.clone(), p0.clone()
    for _ in range(n_leap):  # textbook leapfrog: half kick, drift, half kick
        p = p - 0.5 * eps * grad_u(q)
        q = q + eps * p
        p = p - 0.5 * eps * grad_u(q)
    h0 = target(x) / temp + 0.5 * (p0 ** 2).sum(1)
    h1 = target(q) / temp + 0.5 * (p ** 2).sum(1)
    expected = torch.exp(h0 - h1).clamp(max=1.0)
    torch.testing.assert_close(info.accept_prob, expected, rtol=1e-9, atol=1e-12)
    assert torch.equal(info.accepted, u < expected)
    assert 0 < int(info.accepted.sum()) < 64
    torch.testing.assert_close(new_state.x, torch.where(info.accepted[:, None], q, x))
    assert info.n_grad_evals == n_leap


def test_jittered_step_sizes_are_per_chain_and_bounded():
    kernel = HMC(jitter=0.2)
    like = torch.zeros(4000, 1, 3, 3)
    eps = kernel.chain_step_sizes(0.5, kernel.draw(like, gen(0))[1], like)
    assert eps.shape == (4000, 1, 1, 1)
    assert float(eps.min()) >= 0.4 and float(eps.max()) <= 0.6
    assert float(eps.std()) > 0.05   # uniform on [0.4, 0.6] has sd 0.058: not one shared value
    assert HMC(jitter=0.0).chain_step_sizes(0.5, None, torch.zeros(3, 2)) == 0.5
    assert len(HMC(jitter=0.0).draw(torch.zeros(3, 2), gen(0))) == 2   # momentum and accept uniforms only


def test_leapfrog_gradient_count_reuses_cache():
    calls = []

    class Counting(Energy):
        def energy(self, x):
            calls.append(1)
            return 0.5 * (x ** 2).sum(1)

    energy = Counting()
    kernel = HMC(n_leapfrog=7)
    state = kernel.init(energy, torch.zeros(5, 2))
    for _ in range(3):
        state, info = kernel.step(energy, state, 0.1, generator=gen(0))
    assert len(calls) == 1 + 3 * 7 and info.n_grad_evals == 7


def test_small_steps_conserve_energy():
    _, accept, _ = run(HMC(n_leapfrog=10), TARGET, TARGET.sample(500, gen(5)), 0.01, 5)
    assert float(accept.mean()) > 0.99   # energy error O(ε²): nearly every trajectory accepted


def test_far_away_chain_does_not_touch_the_others():
    x0 = TARGET.sample(500, gen(6))
    far = x0.clone()
    far[0] = torch.tensor([1e3, -1e3])
    kernel = HMC(n_leapfrog=10)
    out = []
    for start in (x0, far):
        g, state, infos = gen(7), kernel.init(TARGET, start), []
        for _ in range(30):
            state, info = kernel.step(TARGET, state, 0.25, 1.0, g)
            infos.append(info)
        out.append((state, infos))
    (s_ref, i_ref), (s_far, i_far) = out
    for a, b in zip(i_ref, i_far):
        assert torch.equal(a.accepted[1:], b.accepted[1:])
        assert torch.equal(a.divergent[1:], b.divergent[1:])
    assert torch.equal(s_ref.x[1:], s_far.x[1:])
    assert float(i_far[0].energy[0]) > 1e5   # it really started far out (and HMC then brings it in)
    assert not any(info.divergent[1:].any() for info in i_far)
    # A batch-wide decision does not pass this: the far chain's huge energy drop
    # dictates every other chain's decision.
    broken = HMCBatchAccept(n_leapfrog=10)
    _, acc_ref_b, _ = run(broken, TARGET, x0, 0.25, 30, seed=7)
    _, acc_far_b, _ = run(broken, TARGET, far, 0.25, 30, seed=7)
    assert not torch.equal(acc_ref_b[1:], acc_far_b[1:])


def test_unstable_step_is_divergent_and_rejected():
    """ε √λ_max > 2 makes the leapfrog unstable: trajectories explode, chains stay, all flagged."""
    x0 = TARGET.sample(100, gen(8))
    kernel = HMC(n_leapfrog=50)
    state, info = kernel.step(TARGET, kernel.init(TARGET, x0), 1.5, 1.0, gen(9))
    assert info.divergent.all() and not info.accepted.any()
    assert torch.equal(state.x, x0)


def test_divergence_threshold_on_the_energy_error():
    """For finite trajectories, divergent ⇔ H_new - H_old > threshold ⇔ accept_prob < exp(-threshold)."""
    kernel = HMC(n_leapfrog=10, divergence_threshold=1.0)
    state = kernel.init(TARGET, TARGET.sample(2000, gen(16)))
    _, info = kernel.step(TARGET, state, 0.85, 1.0, gen(17))
    assert torch.equal(info.divergent, info.accept_prob < torch.exp(torch.tensor(-1.0)))
    assert 0 < int(info.divergent.sum()) < 2000


def test_nan_energy_chains_reject_and_stay_others_unaffected():
    bad = torch.zeros(64, dtype=torch.bool)
    bad[[0, 5, 9]] = True

    def energy_fn(x):
        e = TARGET(x)
        return torch.where(x[:, 0] < -50, torch.full_like(e, float("nan")), e)

    energy = FunctionEnergy(energy_fn)
    x0 = TARGET.sample(64, gen(10))
    x_bad = x0.clone()
    x_bad[bad] = -100.0
    kernel = HMC(n_leapfrog=5)
    out = []
    for start in (x0, x_bad):
        g, state, infos = gen(11), kernel.init(energy, start), []
        for _ in range(15):
            state, info = kernel.step(energy, state, 0.25, 1.0, g)
            infos.append(info)
        out.append((state, infos))
    (s_ref, i_ref), (s_bad, i_bad) = out
    assert torch.equal(s_bad.x[bad], x_bad[bad])
    for a, b in zip(i_ref, i_bad):
        assert not b.accepted[bad].any() and (b.accept_prob[bad] == 0).all() and b.divergent[bad].all()
        assert torch.equal(a.accepted[~bad], b.accepted[~bad])
    assert torch.equal(s_ref.x[~bad], s_bad.x[~bad])


def test_decisions_are_independent_bernoulli_per_chain():
    """Given the reported accept_prob p, decisions must be independent Bernoulli(p) across chains."""
    n_steps = 100
    dispersion = accept_dispersion(HMC(n_leapfrog=5), step_size=0.9, n_steps=n_steps)
    assert abs(dispersion - 1.0) < Z * (2.0 / n_steps) ** 0.5, dispersion


def test_image_shaped_events_sample_a_standard_normal():
    energy = FunctionEnergy(lambda x: 0.5 * (x ** 2).flatten(1).sum(1))
    x0 = 3.0 * torch.randn(200, 1, 8, 8, generator=gen(14))
    state, accept, _ = run(HMC(n_leapfrog=10), energy, x0, 0.2, 30, seed=15)
    pixels = state.x.flatten(1).double()
    n = pixels.numel()
    assert abs(float(pixels.mean())) < Z / math.sqrt(n)
    assert abs(float(pixels.var()) - 1.0) < Z * math.sqrt(2.0 / n)
    assert 0.5 < float(accept.mean()) <= 1.0


@pytest.mark.parametrize("kwargs", [{"n_leapfrog": 0}, {"n_leapfrog": 2.5}, {"n_leapfrog": True},
                                    {"divergence_threshold": 0.0}, {"divergence_threshold": float("nan")},
                                    {"jitter": -0.1}, {"jitter": 1.0}, {"jitter": float("nan")}])
def test_invalid_construction_raises(kwargs):
    with pytest.raises(ValueError):
        HMC(**kwargs)


@pytest.mark.parametrize("bad", [0.0, -0.1, float("inf"), float("nan")])
def test_invalid_step_size_and_temperature_raise(bad):
    kernel = HMC()
    state = kernel.init(TARGET, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="step_size"):
        kernel.step(TARGET, state, bad)
    with pytest.raises(ValueError, match="temperature"):
        kernel.step(TARGET, state, 0.1, temperature=bad)
