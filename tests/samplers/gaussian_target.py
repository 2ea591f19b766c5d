"""The correlated 2D Gaussian the MCMC tests sample, and the statistics that judge them.

With ``n`` iid draws from ``N(μ, C)`` the sample mean has standard error ``sqrt(C_ii / n)`` and the
sample covariance entry ``(i, j)`` has ``sqrt((C_ii C_jj + C_ij²) / n)``.
"""
from __future__ import annotations

import math

import torch

from ebm_engine.energies.targets import Gaussian

MEAN = torch.tensor([1.0, -1.0])
COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
TARGET = Gaussian(MEAN, COV)
N_CHAINS = 10_000
CHUNK = 2000
Z = 5.0


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def overdispersed_start(n: int, seed: int) -> torch.Tensor:
    """Draws from ``N(μ, 4C)``: every chain starts away from equilibrium."""
    return MEAN + 2.0 * (TARGET.sample(n, gen(seed)) - MEAN)


def run_chains(kernel, energy, x0: torch.Tensor, step_size: float, n_steps: int, temperature: float = 1.0,
               seed: int = 1):
    """Run the kernel; returns the final state and the ``(n_steps, n_chains)`` accept flags."""
    g = gen(seed)
    state = kernel.init(energy, x0)
    accepted = []
    for _ in range(n_steps):
        state, info = kernel.step(energy, state, step_size, temperature, g)
        accepted.append(info.accepted)
    return state, torch.stack(accepted)


def final_positions(kernel, x0: torch.Tensor, step_size: float, n_steps: int, temperature: float = 1.0,
                    seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``x0``'s chains in blocks of ``CHUNK`` (independent generators); final positions, accept rates.

    Blocks keep the per-chain vectors (exp, log of acceptance terms) at most 2048 long: above that
    torch runs them multi-threaded, which costs ~10 ms per op when the 2 cores are busy elsewhere.
    """
    xs, accepts = [], []
    for k, block in enumerate(x0.split(CHUNK)):
        state, accepted = run_chains(kernel, TARGET, block, step_size, n_steps, temperature, seed=1000 * seed + k)
        xs.append(state.x)
        accepts.append(accepted.float().mean(0))
    return torch.cat(xs), torch.cat(accepts)


def moment_z_scores(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """|error| / standard error of the sample mean (2) and covariance entries (3)."""
    x = x.double()
    mean, cov = mean.double(), cov.double()
    n = x.shape[0]
    m_hat, c_hat = x.mean(0), torch.cov(x.T)
    z = [(m_hat[i] - mean[i]).abs() / math.sqrt(cov[i, i] / n) for i in range(2)]
    for i, j in [(0, 0), (1, 1), (0, 1)]:
        se = math.sqrt((cov[i, i] * cov[j, j] + cov[i, j] ** 2) / n)
        z.append((c_hat[i, j] - cov[i, j]).abs() / se)
    return torch.stack(z)


def accept_dispersion(kernel, step_size: float, n_steps: int = 100, n_chains: int = 400) -> float:
    """Mean of (S_t - Σp)² / Σp(1-p) over steps, where S_t counts accepted chains at step t.

    With independent Bernoulli(p) decisions per chain it is about 1 with sd sqrt(2 / n_steps); a
    uniform shared by the chains (or a batch-wide decision) inflates it by a factor of order n_chains.
    """
    g = gen(20)
    state = kernel.init(TARGET, TARGET.sample(n_chains, gen(21)))
    ratios = []
    for _ in range(n_steps):
        state, info = kernel.step(TARGET, state, step_size, 1.0, g)
        p = info.accept_prob.double()
        ratios.append((info.accepted.double().sum() - p.sum()) ** 2 / (p * (1 - p)).sum())
    return float(torch.stack(ratios).mean())
