"""LatentEBM: a joint energy ``E(x, z)`` over data and a latent, with an amortised Gaussian encoder.

``E(x, z) = f_θ(x, z) + ½||z||²``: an MLP plus a standard-normal confinement of the latent, so
``exp(-E(x, ·))`` is integrable for every ``x`` (an MLP with SiLU/ReLU grows at most linearly).
The encoder ``q_φ(z | x) = N(μ_φ(x), diag σ_φ(x)²)`` approximates the posterior
``p(z | x) ∝ exp(-E(x, z))``.

The marginal energy ``E(x) = -log ∫ exp(-E(x, z)) dz`` is estimated by importance sampling with
the encoder as proposal: ``Ê(x) = -log (1/K) Σ_k exp(-E(x, z_k)) / q(z_k | x)``, ``z_k ~ q``,
with a delta-method standard error. (The joint energy ``E(x, z)`` at one ``z`` is not a density of
``x``.) Training: ``LatentEBMTrainer``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ebm_engine.energies.base import Energy
from ebm_engine.models.simple_ebm import mlp

_LOG_2PI = math.log(2 * math.pi)


JOINT_ROWS = 4096   # joint-energy rows evaluated at once by ``marginal_energy`` (a 64² grid × 32 draws: 180 -> 94 ms)


class LatentEBM(nn.Module):
    """Joint energy ``E(x, z)`` and encoder ``q(z|x)``; ``marginal`` is an ``Energy`` of ``x`` alone."""

    def __init__(self, data_dim: int = 2, latent_dim: int = 1, hidden: int = 128, depth: int = 2,
                 encoder_hidden: int = 64, activation: str = "silu", marginal_samples: int = 64):
        super().__init__()
        if min(data_dim, latent_dim, hidden, depth, encoder_hidden) < 1:
            raise ValueError("dimensions, widths and depth must be >= 1")
        self.data_dim, self.latent_dim = data_dim, latent_dim
        self.joint_network = mlp(data_dim + latent_dim, hidden, depth, 1, activation)
        self.encoder = mlp(data_dim, encoder_hidden, 2, 2 * latent_dim, activation)
        self.marginal_samples = marginal_samples

    def joint_energy(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``E(x, z)``, shape ``(batch,)``."""
        return self.joint_network(torch.cat([x, z], dim=-1)).squeeze(-1) + 0.5 * (z ** 2).sum(dim=-1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of ``q(z | x)``, each ``(batch, latent_dim)``."""
        mean, log_std = self.encoder(x).chunk(2, dim=-1)
        return mean, torch.exp(log_std.clamp(-7.0, 3.0))

    def sample_latent(self, x: torch.Tensor, n: int = 1, generator: torch.Generator | None = None,
                      common_noise: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` reparameterised draws ``z ~ q(z|x)``, ``(n, batch, latent_dim)``, and their ``log q``.

        ``common_noise`` uses the same standard-normal draws for every ``x`` (common random numbers):
        each draw is still from ``q(z|x)``, and estimates on a grid of ``x`` vary smoothly.
        """
        mean, std = self.encode(x)
        device = generator.device if generator is not None else x.device
        shape = (n, 1, mean.shape[1]) if common_noise else (n, *mean.shape)
        eps = torch.randn(shape, generator=generator, device=device, dtype=mean.dtype).to(mean.device)
        eps = eps.expand(n, *mean.shape)
        z = mean + std * eps
        log_q = (-0.5 * eps ** 2 - torch.log(std) - 0.5 * _LOG_2PI).sum(dim=-1)
        return z, log_q

    def marginal_energy(self, x: torch.Tensor, n_samples: int | None = None,
                        generator: torch.Generator | None = None,
                        common_noise: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Importance-sampling estimate of ``E(x) = -log ∫ exp(-E(x, z)) dz`` and its standard error.

        ``log ŵ_k = -E(x, z_k) - log q(z_k | x)``, ``Ê = -(logsumexp_k log ŵ_k - log K)``; the
        standard error of ``Ê`` is ``std_k(w_k / mean w) / √K`` (delta method). Both ``(batch,)``.
        ``common_noise``: see ``sample_latent`` (for smooth surfaces; errors then correlate across ``x``).
        """
        k = n_samples or self.marginal_samples
        if k < 2:
            raise ValueError(f"n_samples must be >= 2 for a standard error, got {k}")
        log_w = self.log_importance_weights(x, k, generator, common_noise)
        log_sum = torch.logsumexp(log_w, dim=0)
        estimate = -(log_sum - math.log(k))
        normalised = torch.exp(log_w - log_sum + math.log(k))            # mean 1 over k
        stderr = normalised.std(dim=0, unbiased=True) / math.sqrt(k)
        return estimate, stderr

    def log_importance_weights(self, x: torch.Tensor, n_samples: int,
                               generator: torch.Generator | None = None,
                               common_noise: bool = False) -> torch.Tensor:
        """``log ŵ_k = -E(x, z_k) - log q(z_k | x)`` for ``n_samples`` draws ``z_k ~ q(z|x)``: ``(K, batch)``."""
        k = n_samples
        z, log_q = self.sample_latent(x, k, generator, common_noise)      # (K, n, l), (K, n)
        step = max(1, JOINT_ROWS // k)   # points per evaluation: the K·n joint rows in cache-sized pieces
        joint = [self.joint_energy(x[i:i + step].unsqueeze(0).expand(k, -1, -1).reshape(-1, x.shape[-1]),
                                   z[:, i:i + step].reshape(-1, self.latent_dim)).reshape(k, -1)
                 for i in range(0, x.shape[0], step)]
        return -(joint[0] if len(joint) == 1 else torch.cat(joint, dim=1)) - log_q

    def marginal(self, n_samples: int | None = None, generator: torch.Generator | None = None,
                 common_noise: bool = False) -> "MarginalEnergy":
        """The estimated marginal energy as an ``Energy`` of ``x`` (for grids, NLL and plots)."""
        return MarginalEnergy(self, n_samples or self.marginal_samples, generator, common_noise)

    def joint(self) -> "JointEnergy":
        """The joint energy as an ``Energy`` of the concatenated vector ``[x, z]`` (for samplers)."""
        return JointEnergy(self)


class MarginalEnergy(Energy):
    """``x ↦ Ê(x)``, the importance-sampling estimate of a ``LatentEBM``'s marginal energy."""

    def __init__(self, model: LatentEBM, n_samples: int, generator: torch.Generator | None,
                 common_noise: bool = False):
        super().__init__()
        self.model = model
        self.n_samples = n_samples
        self.generator = generator
        self.common_noise = common_noise
        self.one_batch = common_noise   # grids are evaluated in one call, so the noise is common to all points

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.marginal_energy(x, self.n_samples, self.generator, self.common_noise)[0]


class JointEnergy(Energy):
    """``[x, z] ↦ E(x, z)`` for points of shape ``(batch, data_dim + latent_dim)``."""

    def __init__(self, model: LatentEBM):
        super().__init__()
        self.model = model

    def energy(self, xz: torch.Tensor) -> torch.Tensor:
        d = self.model.data_dim
        return self.model.joint_energy(xz[:, :d], xz[:, d:])
