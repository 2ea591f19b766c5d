"""Dual averaging: the recursion itself, convergence on a known acceptance curve, and adaptation in
the driver reaching each MH kernel's target acceptance on a Gaussian and on the banana.

The driver checks use 500 chains x 200 post-warm-up steps: the binomial standard error of the
realised mean acceptance is below 0.01, so a ±0.05 band tests the adapted step size, not noise.
"""
from __future__ import annotations

import math

import pytest
import torch

from ebm_engine.energies.targets import Banana, Gaussian
from ebm_engine.samplers import DEFAULT_TARGET_ACCEPT, HMC, MALA, DualAveraging, Langevin, sample


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_first_updates_follow_the_recursion():
    da = DualAveraging(0.1, target_accept=0.6, gamma=0.05, t0=10, kappa=0.75)
    mu = math.log(1.0)
    h_bar, x_bar = 0.0, 0.0
    for m, alpha in enumerate([0.9, 0.2, 0.5, 1.0], start=1):
        h_bar = (1 - 1 / (m + 10)) * h_bar + (0.6 - alpha) / (m + 10)
        log_eps = mu - math.sqrt(m) / 0.05 * h_bar
        x_bar = m ** -0.75 * log_eps + (1 - m ** -0.75) * x_bar
        assert da.update(alpha) == pytest.approx(math.exp(log_eps), rel=1e-12)
        assert da.final_step_size == pytest.approx(math.exp(x_bar), rel=1e-12)


def test_final_step_size_before_any_update_is_the_initial_one():
    assert DualAveraging(0.37, 0.8).final_step_size == pytest.approx(0.37)


@pytest.mark.parametrize("target", [0.574, 0.65, 0.8])
def test_converges_on_a_noiseless_acceptance_curve(target):
    """With α(ε) = exp(-ε) the fixed point is ε* = -log δ."""
    da = DualAveraging(5.0, target)
    eps = da.step_size
    for _ in range(2000):
        eps = da.update(math.exp(-eps))
    assert da.final_step_size == pytest.approx(-math.log(target), rel=0.02)


def test_direction_of_adaptation():
    up, down = DualAveraging(0.1, 0.65), DualAveraging(0.1, 0.65)
    for _ in range(20):
        up.update(1.0)
        down.update(0.0)
    assert up.final_step_size > 0.1 > down.final_step_size


@pytest.mark.parametrize("kwargs", [
    {"initial_step_size": 0.0}, {"initial_step_size": float("inf")}, {"target_accept": 0.0},
    {"target_accept": 1.0}, {"gamma": 0.0}, {"t0": -1.0}, {"kappa": 0.5}, {"kappa": 1.5}])
def test_invalid_settings_raise(kwargs):
    args = {"initial_step_size": 0.1, "target_accept": 0.65} | kwargs
    with pytest.raises(ValueError):
        DualAveraging(**args)


@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan")])
def test_invalid_acceptance_raises(bad):
    with pytest.raises(ValueError, match="mean_accept_prob"):
        DualAveraging(0.1, 0.65).update(bad)


def test_default_targets():
    assert DEFAULT_TARGET_ACCEPT["mala"] == pytest.approx(0.574)
    assert DEFAULT_TARGET_ACCEPT["hmc"] == pytest.approx(0.8)
    assert "langevin" not in DEFAULT_TARGET_ACCEPT


TARGETS = {"gaussian": lambda: Gaussian((1.0, -1.0), ((1.0, 0.8), (0.8, 1.0))), "banana": Banana}


@pytest.mark.parametrize("target_name", sorted(TARGETS))
@pytest.mark.parametrize("kernel, initial_step", [(MALA(), 1.0), (MALA(), 0.001), (HMC(), 0.02), (HMC(), 2.0)],
                         ids=["mala-big", "mala-small", "hmc-small", "hmc-big"])
def test_driver_adapts_to_target_acceptance(target_name, kernel, initial_step):
    target = TARGETS[target_name]()
    x0 = target.sample(500, gen(0))
    run = sample(target, x0, kernel, n_steps=200, step_size=initial_step, warmup=300, generator=gen(1))
    goal = DEFAULT_TARGET_ACCEPT[kernel.name]
    assert abs(float(run.accept_rate.mean()) - goal) < 0.05
    assert run.step_size != initial_step


def test_driver_feeds_mean_accept_prob_and_samples_with_the_averaged_step():
    """Replaying the warm-up's mean acceptance probabilities reproduces the driver's step sizes."""
    target = TARGETS["gaussian"]()
    seen = []
    run = sample(target, target.sample(50, gen(0)), MALA(), n_steps=5, step_size=0.5, warmup=40,
                 generator=gen(1), callback=lambda i, state, info: seen.append(float(info.accept_prob.mean())))
    replay = DualAveraging(0.5, DEFAULT_TARGET_ACCEPT["mala"])
    for alpha in seen[:40]:
        replay.update(alpha)
    assert run.step_size == pytest.approx(replay.final_step_size, rel=1e-12)
    assert run.step_size != pytest.approx(replay.step_size, rel=1e-3)   # the average, not the last iterate


def test_explicit_target_accept_is_used():
    target = TARGETS["gaussian"]()
    runs = [sample(target, target.sample(500, gen(0)), MALA(), n_steps=100, step_size=0.1, warmup=300,
                   target_accept=goal, generator=gen(1)) for goal in (0.3, 0.9)]
    assert abs(float(runs[0].accept_rate.mean()) - 0.3) < 0.05
    assert abs(float(runs[1].accept_rate.mean()) - 0.9) < 0.05
    assert runs[0].step_size > runs[1].step_size


def test_langevin_is_never_adapted():
    target = TARGETS["gaussian"]()
    run = sample(target, target.sample(100, gen(0)), Langevin(), n_steps=10, step_size=0.05, warmup=20,
                 generator=gen(1))
    assert run.step_size == 0.05
    with pytest.warns(UserWarning, match="target_accept is ignored"):
        run = sample(target, target.sample(100, gen(0)), "langevin", n_steps=10, step_size=0.05, warmup=20,
                     target_accept=0.6, generator=gen(1))
    assert run.step_size == 0.05
