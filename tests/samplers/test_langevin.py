"""Unadjusted Langevin: the exact update, its stationary statistics, divergence handling, validation.

Statistical checks use a 2D correlated Gaussian, for which the unadjusted chain is linear and its
stationary law is known exactly. In the eigenbasis of the covariance ``Σ`` (eigenvalues ``λ_k``),
with ``a_k = ε / (T λ_k)`` and noise standard deviation ``s``:

    x'_k = (1 - a_k) x_k + s ξ   =>   c_k = s² / (2 a_k - a_k²)

so with the correct ``s² = 2ε`` the stationary variance is ``T λ_k / (1 - a_k / 2)``: the target
``T λ_k`` plus an O(ε) discretisation bias of relative size ``a_k / 2 + O(a_k²)``. The mean is
unbiased. With ``n`` independent chains the sample variance has standard error
``c_k sqrt(2 / (n - 1))`` and the sample mean ``sqrt(c_k / n)``; every check allows 4 standard
errors (plus the exact bias where we compare to the continuous-time target).
"""
from __future__ import annotations

import math

import pytest
import torch

from ebm_engine.energies.base import FunctionEnergy
from ebm_engine.energies.targets import Gaussian
from ebm_engine.samplers import Langevin, SamplerState, StepInfo

MEAN = torch.tensor([1.0, -0.5])
COV = torch.tensor([[1.0, 0.6], [0.6, 1.0]])
EIGVALS, EIGVECS = torch.linalg.eigh(COV)          # λ = (0.4, 1.6), columns are eigenvectors
START = torch.tensor([-3.0, -4.0])                 # 5.3 from the mean along the slow direction
N_CHAINS = 4000
EPS = 0.01
Z = 4.0                                            # standard errors allowed


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def run_chains(kernel: Langevin, energy, x0: torch.Tensor, step_size: float, n_steps: int,
               temperature: float = 1.0, seed: int = 0) -> SamplerState:
    g = gen(seed)
    state = kernel.init(energy, x0)
    for _ in range(n_steps):
        state, _ = kernel.step(energy, state, step_size, temperature, g)
    return state


def gaussian_chains(temperature: float, noise_scale: float | None = None, seed: int = 0) -> torch.Tensor:
    """Final positions of N_CHAINS chains started at START, run ~10 relaxation times of the slow mode."""
    n_steps = math.ceil(10 * temperature * float(EIGVALS.max()) / EPS)
    x0 = START.expand(N_CHAINS, 2).clone()
    return run_chains(Langevin(noise_scale=noise_scale), Gaussian(MEAN, COV), x0, EPS, n_steps,
                      temperature, seed).x.double()


def eigen_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Sample mean offset and variances along the eigenvectors of COV, and their cross-covariance."""
    v = EIGVECS.double()
    centred_mean = (x.mean(0) - MEAN.double()) @ v
    s = torch.cov(x.T)
    proj = v.T @ s @ v
    return centred_mean, torch.diagonal(proj), float(proj[0, 1])


def stationary_variance(temperature: float, noise_var: float) -> torch.Tensor:
    a = EPS / (temperature * EIGVALS.double())
    return noise_var / (2 * a - a ** 2)


def covariance_matches_target(x: torch.Tensor, temperature: float) -> tuple[bool, torch.Tensor]:
    """The check a correct kernel passes: variances T λ_k within 4 SE plus the exact O(ε) bias.

    Returns (passes, variance / (T λ_k)).
    """
    _, var, cross = eigen_stats(x)
    target = temperature * EIGVALS.double()
    expected = stationary_variance(temperature, 2 * EPS)
    se = expected * math.sqrt(2 / (N_CHAINS - 1))
    bias = (expected - target).abs()
    assert (bias / target < 0.03).all()  # ε is small: the discretisation bias is a few percent at most
    cross_se = math.sqrt(float(expected.prod()) / N_CHAINS)
    ok = bool(((var - target).abs() <= Z * se + bias).all()) and abs(cross) <= Z * cross_se
    return ok, var / target


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_gaussian_mean_and_covariance_at_temperature(temperature):
    x = gaussian_chains(temperature, seed=int(10 * temperature))
    assert torch.isfinite(x).all()
    mean_offset, var, _ = eigen_stats(x)
    expected = stationary_variance(temperature, 2 * EPS)
    assert (mean_offset.abs() <= Z * torch.sqrt(expected / N_CHAINS)).all(), mean_offset
    ok, ratio = covariance_matches_target(x, temperature)
    assert ok, f"variance / (T λ) = {ratio.tolist()}"
    # The full covariance matrix, entry by entry: T Σ (entry SE <= sqrt((S_ii S_jj + S_ij²)/n)).
    s = torch.cov(x.T)
    target = temperature * COV.double()
    exact = EIGVECS.double() @ torch.diag(expected) @ EIGVECS.double().T
    se = torch.sqrt((torch.outer(torch.diagonal(exact), torch.diagonal(exact)) + exact ** 2) / N_CHAINS)
    assert ((s - target).abs() <= Z * se + (exact - target).abs()).all(), (s, target)


def test_wrong_noise_scale_fails_the_covariance_check():
    # sqrt(ε) instead of sqrt(2ε): half the noise variance, so about half the target variance.
    x = gaussian_chains(1.0, noise_scale=math.sqrt(EPS), seed=3)
    ok, ratio = covariance_matches_target(x, 1.0)
    assert not ok
    _, var, _ = eigen_stats(x)
    expected = stationary_variance(1.0, EPS)                 # = λ / (2 - a): the broken kernel's law
    se = expected * math.sqrt(2 / (N_CHAINS - 1))
    assert ((var - expected).abs() <= Z * se).all(), var
    assert ((ratio - 0.5).abs() < 0.05).all(), ratio


def test_image_shaped_chains():
    # 500 chains of 1x4x4 "images" under E = |x|²/2: every pixel is N(0, 1) at stationarity.
    eps, n_chains = 0.05, 500
    energy = FunctionEnergy(lambda x: 0.5 * (x ** 2).sum(dim=(1, 2, 3)))
    kernel = Langevin()
    x0 = torch.full((n_chains, 1, 4, 4), 3.0)
    state = kernel.init(energy, x0)
    assert state.x.shape == (n_chains, 1, 4, 4) and state.grad.shape == (n_chains, 1, 4, 4)
    assert state.energy.shape == (n_chains,)
    g = gen(11)
    for _ in range(200):                     # relaxation time 1/ε = 20 steps: 10 of them
        state, info = kernel.step(energy, state, eps, 1.0, g)
    assert info.divergent.shape == (n_chains,) and not info.divergent.any()
    pixels = state.x.double().reshape(-1)
    expected = 1.0 / (1 - eps / 2)           # stationary variance of the discretised chain
    se = expected * math.sqrt(2 / (pixels.numel() - 1))
    assert abs(float(pixels.var()) - 1.0) <= Z * se + (expected - 1.0)
    assert abs(float(pixels.mean())) <= Z * math.sqrt(expected / pixels.numel())
    torch.testing.assert_close(state.energy, energy(state.x))


def test_one_step_is_the_langevin_update():
    energy = Gaussian(MEAN, COV)
    x = torch.randn(64, 2, generator=gen(1))
    kernel = Langevin()
    state = kernel.init(energy, x)
    eps, t = 0.03, 1.7
    new_state, info = kernel.step(energy, state, eps, t, gen(2))
    noise = torch.randn(64, 2, generator=gen(2))
    expected = x - (eps / t) * energy.grad(x) + math.sqrt(2 * eps) * noise
    torch.testing.assert_close(new_state.x, expected)
    torch.testing.assert_close(new_state.energy, energy(expected))
    torch.testing.assert_close(new_state.grad, energy.grad(expected))
    assert isinstance(info, StepInfo)
    assert info.accepted.dtype == torch.bool and info.accepted.all()
    torch.testing.assert_close(info.accept_prob, torch.ones(64))
    assert not info.divergent.any() and info.n_grad_evals == 1
    torch.testing.assert_close(info.energy, new_state.energy)
    for t_ in (new_state.x, new_state.energy, new_state.grad):
        assert not t_.requires_grad
    # The input is not modified in place.
    torch.testing.assert_close(state.x, x, rtol=0, atol=0)


def test_noise_scale_overrides_noise():
    energy = Gaussian(MEAN, COV)
    x = torch.randn(32, 2, generator=gen(4))
    state = Langevin(noise_scale=0.0).init(energy, x)
    new_state, _ = Langevin(noise_scale=0.0).step(energy, state, 0.1, 2.0, gen(5))
    torch.testing.assert_close(new_state.x, x - 0.05 * energy.grad(x))   # plain gradient descent
    new_state, _ = Langevin(noise_scale=0.3).step(energy, state, 0.1, 2.0, gen(5))
    noise = torch.randn(32, 2, generator=gen(5))
    torch.testing.assert_close(new_state.x, x - 0.05 * energy.grad(x) + 0.3 * noise)


def test_non_finite_energies_mark_chains_divergent_and_keep_them():
    poisoned = torch.zeros(8, dtype=torch.bool)
    poisoned[[1, 4, 6]] = True
    calls = {"n": 0}

    def fn(x):
        calls["n"] += 1
        e = 0.5 * (x ** 2).sum(dim=1)
        if calls["n"] > 1:  # finite at init, trouble from the first step on
            bad = torch.tensor([math.nan, math.inf, -math.inf]).to(e)
            e = e.clone()
            e[poisoned] = bad
        return e

    energy = FunctionEnergy(fn)
    kernel = Langevin()
    x0 = torch.randn(8, 2, generator=gen(6))
    state0 = kernel.init(energy, x0)
    state, info = kernel.step(energy, state0, 0.1, 1.0, gen(7))
    assert torch.equal(info.divergent, poisoned)
    assert torch.equal(info.accepted, ~poisoned)
    torch.testing.assert_close(info.accept_prob, (~poisoned).float())
    # Divergent chains stay exactly where they were, with their cached energy and gradient.
    assert torch.equal(state.x[poisoned], x0[poisoned])
    assert torch.equal(state.energy[poisoned], state0.energy[poisoned])
    assert torch.equal(state.grad[poisoned], state0.grad[poisoned])
    # The others moved, and nothing non-finite leaked into the state.
    assert (state.x[~poisoned] != x0[~poisoned]).all()
    assert torch.isfinite(state.x).all() and torch.isfinite(state.energy).all() and torch.isfinite(state.grad).all()
    # A second step: the same chains are still stuck, the rest keep moving.
    state2, info2 = kernel.step(energy, state, 0.1, 1.0, gen(8))
    assert torch.equal(info2.divergent, poisoned)
    assert torch.equal(state2.x[poisoned], x0[poisoned])


def test_non_finite_chains_with_image_shapes():
    def fn(x):
        e = 0.5 * (x ** 2).sum(dim=(1, 2, 3))
        return torch.where(x[:, 0, 0, 0] > 2.0, torch.full_like(e, math.nan), e)

    energy = FunctionEnergy(fn)
    x0 = torch.zeros(6, 1, 3, 3)
    x0[2, 0, 0, 0] = 1.99  # a small push takes chain 2 into the NaN region
    kernel = Langevin(noise_scale=0.0)
    state = kernel.init(energy, x0)
    state = SamplerState(state.x, state.energy, state.grad.clone())
    state.grad[2, 0, 0, 0] = -10.0  # forces chain 2 to x ≈ 2.99 > 2 with step 0.1
    new_state, info = kernel.step(energy, state, 0.1, 1.0, gen(9))
    assert info.divergent.tolist() == [False, False, True, False, False, False]
    assert torch.equal(new_state.x[2], x0[2])


def test_clamp_keeps_positions_within_bounds():
    energy = Gaussian((0.0, 0.0), ((1.0, 0.0), (0.0, 1.0)))
    kernel = Langevin(clamp=(-0.5, 0.5))
    state = kernel.init(energy, torch.zeros(500, 2))
    g = gen(12)
    at_bound = 0
    for _ in range(30):
        state, info = kernel.step(energy, state, 0.2, 1.0, g)
        assert (state.x >= -0.5).all() and (state.x <= 0.5).all()
        at_bound += int((state.x.abs() == 0.5).sum())
    assert at_bound > 0  # N(0, 1) puts most of its mass beyond ±0.5: the clamp is active
    # The cached energy is that of the clamped positions.
    torch.testing.assert_close(state.energy, energy(state.x))


@pytest.mark.parametrize("bad", [0.0, -0.1, math.nan, math.inf])
def test_invalid_step_size_and_temperature(bad):
    energy = Gaussian()
    kernel = Langevin()
    state = kernel.init(energy, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="step_size"):
        kernel.step(energy, state, bad, 1.0, gen(0))
    with pytest.raises(ValueError, match="temperature"):
        kernel.step(energy, state, 0.1, bad, gen(0))


@pytest.mark.parametrize("noise_scale", [-1.0, math.nan, math.inf])
def test_invalid_noise_scale(noise_scale):
    with pytest.raises(ValueError, match="noise_scale"):
        Langevin(noise_scale=noise_scale)


@pytest.mark.parametrize("clamp", [(1.0, 0.0), (0.0, 0.0), (math.nan, 1.0)])
def test_invalid_clamp(clamp):
    with pytest.raises(ValueError, match="clamp"):
        Langevin(clamp=clamp)


def test_same_seed_same_trajectory():
    energy = Gaussian(MEAN, COV)
    x0 = torch.randn(50, 2, generator=gen(13))

    def trajectory(seed):
        g, kernel = gen(seed), Langevin()
        state = kernel.init(energy, x0)
        out = []
        for _ in range(20):
            state, _ = kernel.step(energy, state, 0.05, 1.0, g)
            out.append(state.x)
        return torch.stack(out)

    a, b, c = trajectory(21), trajectory(21), trajectory(22)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
