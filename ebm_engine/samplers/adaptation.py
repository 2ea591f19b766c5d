"""Step-size adaptation by dual averaging (Hoffman & Gelman 2014, the NUTS paper, Algorithms 5-6).

During warm-up the log step size is driven so that the mean acceptance probability matches a
target ``δ``; after warm-up the sampler uses the *averaged* iterate ``x̄``, which is much less
noisy than the last one. With ``μ = log(10 ε₀)``, ``H̄₀ = 0`` and ``x̄₀ = 0``, at iteration ``m``:

    H̄_m = (1 - 1/(m + t0)) H̄_{m-1} + (δ - α_m) / (m + t0)
    x_m  = μ - sqrt(m) / γ · H̄_m                     (log ε used at the next step)
    x̄_m  = m^{-κ} x_m + (1 - m^{-κ}) x̄_{m-1}

``α_m`` is the acceptance probability of step ``m``, here averaged over chains.

Only Metropolis-adjusted kernels (MALA, HMC) have an acceptance to aim at. Unadjusted Langevin
accepts every finite step, so there is nothing to adapt: the driver keeps the given step size
for it (warm-up still runs, as burn-in).
"""
from __future__ import annotations

import math

import param

from ebm_engine.config import POSITIVE, Config

DEFAULT_TARGET_ACCEPT: dict[str, float] = {
    "mala": 0.574,   # optimal scaling of MALA (Roberts & Rosenthal 1998)
    # Beskos et al. (2013) give 0.651 as the asymptotic optimum in high dimension; in the lab's
    # low-dimensional targets 0.65 puts a 10-step trajectory near the leapfrog's stability edge,
    # where acceptance falls off a cliff and adaptation overshoots. 0.8 (Stan's default) is robust.
    "hmc": 0.8,
}
"""Target mean acceptance per Metropolis-adjusted kernel name; kernels absent here are not adapted."""


class DualAveragingConfig(Config):
    """The settings of ``DualAveraging``, checked by their declarations."""

    initial_step_size = param.Number(0.1, **POSITIVE)
    target_accept = param.Number(0.8, bounds=(0, 1), inclusive_bounds=(False, False))
    gamma = param.Number(0.05, **POSITIVE)
    t0 = param.Number(10.0, bounds=(0, None))
    kappa = param.Number(0.75, bounds=(0.5, 1), inclusive_bounds=(False, True))


class DualAveraging:
    """Dual-averaging controller of the step size: call ``update`` once per warm-up step."""

    def __init__(self, initial_step_size: float, target_accept: float, gamma: float = 0.05,
                 t0: float = 10.0, kappa: float = 0.75):
        config = DualAveragingConfig(initial_step_size=initial_step_size, target_accept=target_accept,
                                     gamma=gamma, t0=t0, kappa=kappa)
        self.target_accept = float(config.target_accept)
        self.gamma, self.t0, self.kappa = float(config.gamma), float(config.t0), float(config.kappa)
        self.mu = math.log(10.0 * config.initial_step_size)
        self.iteration = 0
        self.h_bar = 0.0
        self.log_step = math.log(config.initial_step_size)
        self.log_step_bar = 0.0

    @property
    def step_size(self) -> float:
        """The step size to use at the next warm-up step."""
        return math.exp(self.log_step)

    @property
    def final_step_size(self) -> float:
        """The averaged step size ``exp(x̄)`` to use after warm-up (the initial one before any update)."""
        return math.exp(self.log_step_bar) if self.iteration > 0 else math.exp(self.log_step)

    def update(self, mean_accept_prob: float) -> float:
        """Feed the acceptance probability of the last step (mean over chains); return the next step size."""
        alpha = float(mean_accept_prob)
        if not 0.0 <= alpha <= 1.0:  # also rejects NaN: a NaN acceptance is a bug upstream, not a signal
            raise ValueError(f"mean_accept_prob must be in [0, 1], got {mean_accept_prob}")
        self.iteration += 1
        m = self.iteration
        weight = 1.0 / (m + self.t0)
        self.h_bar = (1.0 - weight) * self.h_bar + weight * (self.target_accept - alpha)
        self.log_step = self.mu - math.sqrt(m) / self.gamma * self.h_bar
        eta = m ** (-self.kappa)
        self.log_step_bar = eta * self.log_step + (1.0 - eta) * self.log_step_bar
        return self.step_size
