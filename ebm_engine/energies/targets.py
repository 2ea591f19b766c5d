"""Analytic 2D targets with exact, normalised log-densities.

Each target is an ``Energy`` with ``energy(x) = -log_prob(x)``, so its Boltzmann density at
``T = 1`` is already normalised (``Z = 1``). That makes the targets the references for partition
function estimates, sampler tests and NLL metrics. Every target also has a ``bounds`` box
``((xmin, xmax), (ymin, ymax))`` for plotting and grid quadrature and, where exact sampling is
possible, ``sample(n, generator)``.

Parameters are stored as buffers or plain floats, so ``.to(device)`` and ``.double()`` work and
``log_prob`` computes in the dtype and on the device of its input.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ebm_engine.energies.base import Energy, finite_number

Bounds = tuple[tuple[float, float], ...]

_LOG_2PI = math.log(2.0 * math.pi)
# Half-width of a bounds box in standard deviations: a 1-D Gaussian puts 3.4e-6 of its mass
# beyond 4.5 sigma on each side, so a box built this way misses at most a few 1e-5 of the mass.
_TAIL_SIGMAS = 4.5


def _positive(value: float, name: str) -> float:
    value = finite_number(value, name)
    if not value > 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def _float_tensor(value, name: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric, got {value!r}") from err
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return t


def _check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return n


def _normal_log_prob(x: torch.Tensor, mean: torch.Tensor | float, std: torch.Tensor | float) -> torch.Tensor:
    """Elementwise log N(x; mean, std^2)."""
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device)
    return -0.5 * ((x - mean) / std_t) ** 2 - torch.log(std_t) - 0.5 * _LOG_2PI


class Target(Energy):
    """A normalised analytic density: ``energy = -log_prob``; subclasses implement ``log_prob``."""

    dim: int = 2
    bounds: Bounds

    def __init__(self) -> None:
        super().__init__()
        # Follows .to()/.double(): the device and dtype samples are returned in.
        self.register_buffer("_ref", torch.zeros(()), persistent=False)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Exact normalised log-density, shape ``(batch,)``."""
        raise NotImplementedError

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return -self.log_prob(x)

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies and ``∇ₓE`` from the closed form (``_closed_form``) when the target has one."""
        self._check_points(x)
        with torch.no_grad():
            closed = self._closed_form(x.detach())
        return closed if closed is not None else super().energy_and_grad(x)

    def _closed_form(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(E(x), ∇ₓE(x))`` written out by hand, or ``None`` to differentiate ``log_prob`` by autograd."""
        return None

    def traceable_energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        closed = self._closed_form(x)
        return closed if closed is not None else super().traceable_energy_and_grad(x)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` exact samples, shape ``(n, dim)``; ``generator=None`` uses torch's default generator."""
        raise NotImplementedError(f"{type(self).__name__} has no exact sampler")

    def _check_points(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{type(self).__name__} expects points of shape (n, {self.dim}), "
                             f"got {tuple(x.shape)}")

    def _draw(self, shape: tuple[int, ...], generator: torch.Generator | None, draw=torch.randn) -> torch.Tensor:
        """``draw(shape)`` (normal; ``torch.rand``: uniform) from ``generator``, on this target's device and dtype."""
        device = generator.device if generator is not None else torch.device("cpu")
        return draw(shape, generator=generator, device=device, dtype=self._ref.dtype).to(self._ref.device)


class Gaussian(Target):
    """Multivariate normal ``N(mean, cov)`` with a full, positive-definite covariance."""

    def __init__(self, mean: Sequence[float] | torch.Tensor = (0.0, 0.0),
                 cov: Sequence[Sequence[float]] | torch.Tensor = ((1.0, 0.6), (0.6, 1.0))):
        super().__init__()
        mean_t, cov_t = _float_tensor(mean, "mean"), _float_tensor(cov, "cov")
        if mean_t.dim() != 1 or mean_t.shape[0] < 1:
            raise ValueError(f"mean must be a vector, got shape {tuple(mean_t.shape)}")
        d = mean_t.shape[0]
        if cov_t.shape != (d, d):
            raise ValueError(f"cov must have shape ({d}, {d}), got {tuple(cov_t.shape)}")
        if not torch.allclose(cov_t, cov_t.T, rtol=1e-10, atol=1e-12):
            raise ValueError("cov must be symmetric")
        chol, info = torch.linalg.cholesky_ex(cov_t)
        if info.item() != 0 or not (torch.diagonal(chol) > 0).all():
            raise ValueError("cov must be positive definite")
        dtype = torch.get_default_dtype()
        self.dim = d
        self.register_buffer("mean", mean_t.to(dtype))
        self.register_buffer("cov", cov_t.to(dtype))
        self.register_buffer("chol", chol.to(dtype))
        # x -> L^{-1}(x - mean) whitens: the Mahalanobis distance is the squared norm of that.
        self.register_buffer("whiten", torch.linalg.inv(chol).to(dtype))
        self.log_norm = 0.5 * d * _LOG_2PI + float(torch.log(torch.diagonal(chol)).sum())
        half = _TAIL_SIGMAS * torch.sqrt(torch.diagonal(cov_t))
        self.bounds = tuple((float(m - h), float(m + h)) for m, h in zip(mean_t, half))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self._check_points(x)
        z = (x - self.mean.to(x)) @ self.whiten.to(x).T
        return -0.5 * (z ** 2).sum(dim=1) - self.log_norm

    def _closed_form(self, x):
        whiten = self.whiten.to(x)
        z = (x - self.mean.to(x)) @ whiten.T
        return 0.5 * (z * z).sum(dim=1) + self.log_norm, z @ whiten   # ∇E = Σ⁻¹(x - μ)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = self._draw((_check_count(n), self.dim), generator)
        return self.mean.to(z) + z @ self.chol.to(z).T


class GaussianMixture(Target):
    """Mixture of isotropic Gaussians: ``Σ_k w_k N(means_k, stds_k^2 I)``; weights are normalised."""

    def __init__(self, means: Sequence[Sequence[float]] | torch.Tensor = ((-2.0, -1.0), (1.5, -1.8), (0.5, 2.0)),
                 stds: float | Sequence[float] | torch.Tensor = (0.6, 0.5, 0.7),
                 weights: Sequence[float] | torch.Tensor | None = (0.3, 0.3, 0.4)):
        super().__init__()
        means_t = _float_tensor(means, "means")
        if means_t.dim() != 2 or means_t.shape[0] < 1 or means_t.shape[1] < 1:
            raise ValueError(f"means must have shape (components, dim), got {tuple(means_t.shape)}")
        k, d = means_t.shape
        stds_t = _float_tensor(stds, "stds")
        if stds_t.dim() == 0:
            stds_t = stds_t.expand(k).clone()
        if stds_t.shape != (k,):
            raise ValueError(f"stds must be a scalar or have shape ({k},), got {tuple(stds_t.shape)}")
        if not (stds_t > 0).all():
            raise ValueError(f"stds must be positive, got {stds_t.tolist()}")
        weights_t = torch.ones(k, dtype=torch.float64) if weights is None else _float_tensor(weights, "weights")
        if weights_t.shape != (k,):
            raise ValueError(f"weights must have shape ({k},), got {tuple(weights_t.shape)}")
        if (weights_t < 0).any() or weights_t.sum() <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum, got {weights_t.tolist()}")
        weights_t = weights_t / weights_t.sum()
        dtype = torch.get_default_dtype()
        self.dim = d
        self.register_buffer("means", means_t.to(dtype))
        self.register_buffer("stds", stds_t.to(dtype))
        self.register_buffer("weights", weights_t.to(dtype))
        # log w_k - d log s_k - d/2 log 2π, the per-component constant, kept in float64 precision.
        self.register_buffer("log_coef", (torch.log(weights_t) - d * torch.log(stds_t) - 0.5 * d * _LOG_2PI).to(dtype))
        lo = (means_t - _TAIL_SIGMAS * stds_t[:, None]).min(dim=0).values
        hi = (means_t + _TAIL_SIGMAS * stds_t[:, None]).max(dim=0).values
        self.bounds = tuple((float(a), float(b)) for a, b in zip(lo, hi))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self._check_points(x)
        sq_dist = ((x[:, None, :] - self.means.to(x)[None]) ** 2).sum(dim=2)  # (n, k)
        comp = -0.5 * sq_dist / self.stds.to(x) ** 2 + self.log_coef.to(x)
        return torch.logsumexp(comp, dim=1)

    def _closed_form(self, x):
        means, inv_var = self.means.to(x), self.stds.to(x) ** -2
        sq_dist = ((x[:, None, :] - means[None]) ** 2).sum(dim=2)
        comp = -0.5 * sq_dist * inv_var + self.log_coef.to(x)
        log_z = torch.logsumexp(comp, dim=1, keepdim=True)
        resp = torch.exp(comp - log_z) * inv_var                      # w_k / σ_k²
        return -log_z.squeeze(1), resp.sum(dim=1, keepdim=True) * x - resp @ means   # Σ w_k (x - μ_k)/σ_k²

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = _check_count(n)
        device = generator.device if generator is not None else torch.device("cpu")
        idx = torch.multinomial(self.weights.to(device), n, replacement=True, generator=generator)
        idx = idx.to(self._ref.device)
        z = self._draw((n, self.dim), generator)
        return self.means.to(z)[idx] + self.stds.to(z)[idx, None] * z


class Banana(Target):
    """Twisted Gaussian: ``x1 ~ N(0, s1^2)``, ``x2 | x1 ~ N(b (x1^2 - s1^2), s2^2)``.

    The map ``(x1, x2) -> (x1, x2 - b (x1^2 - s1^2))`` has Jacobian 1, so the density is exactly
    a product of two normals. ``E[x2] = 0``; the curve opens upwards for ``b > 0``.
    """

    def __init__(self, s1: float = 1.0, b: float = 0.5, s2: float = 0.5):
        super().__init__()
        self.s1, self.s2 = _positive(s1, "s1"), _positive(s2, "s2")
        self.b = finite_number(b, "b")
        a = _TAIL_SIGMAS * self.s1
        curve = (self.b * (0.0 - self.s1 ** 2), self.b * (a ** 2 - self.s1 ** 2))
        pad = _TAIL_SIGMAS * self.s2
        self.bounds = ((-a, a), (min(curve) - pad, max(curve) + pad))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self._check_points(x)
        x1, x2 = x[:, 0], x[:, 1]
        return _normal_log_prob(x1, 0.0, self.s1) + _normal_log_prob(x2, self.b * (x1 ** 2 - self.s1 ** 2), self.s2)

    def _closed_form(self, x):
        x1, x2 = x.unbind(1)
        s1_sq, s2_sq, b = self.s1 ** 2, self.s2 ** 2, self.b
        x1_sq = x1 * x1
        d = torch.add(x2, x1_sq, alpha=-b).add_(b * s1_sq)            # x2 - b (x1² - s1²)
        r = d / s2_sq                                                  # ∂E/∂x2
        e = torch.mul(x1_sq, 0.5 / s1_sq).addcmul_(d, r, value=0.5).add_(math.log(self.s1 * self.s2) + _LOG_2PI)
        g1 = torch.mul(r, -2.0 * b).add_(1.0 / s1_sq).mul_(x1)       # x1/s1² - 2 b x1 r
        return e, torch.stack([g1, r], dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = self._draw((_check_count(n), 2), generator)
        x1 = self.s1 * z[:, 0]
        x2 = self.b * (x1 ** 2 - self.s1 ** 2) + self.s2 * z[:, 1]
        return torch.stack([x1, x2], dim=1)


class Donut(Target):
    """Ring of radius ``r0`` and radial width ``sigma``: ``p(x) ∝ exp(-(|x| - r0)^2 / (2 sigma^2))``.

    In polar coordinates ``Z = 2π ∫_0^∞ r exp(-(r - r0)^2 / (2σ^2)) dr
    = 2π [σ^2 exp(-r0^2 / (2σ^2)) + r0 σ sqrt(π/2) (1 + erf(r0 / (σ √2)))]``, exactly.
    """

    def __init__(self, radius: float = 2.5, sigma: float = 0.4):
        super().__init__()
        self.radius = finite_number(radius, "radius")
        if self.radius < 0:
            raise ValueError(f"radius must be a non-negative finite number, got {radius}")
        self.sigma = _positive(sigma, "sigma")
        r0, s = self.radius, self.sigma
        radial = s ** 2 * math.exp(-r0 ** 2 / (2 * s ** 2)) + r0 * s * math.sqrt(math.pi / 2) * (1 + math.erf(r0 / (s * math.sqrt(2))))
        self.log_norm = math.log(2 * math.pi) + math.log(radial)
        half = r0 + _TAIL_SIGMAS * s
        self.bounds = ((-half, half), (-half, half))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self._check_points(x)
        r = torch.linalg.vector_norm(x, dim=1)
        return -0.5 * ((r - self.radius) / self.sigma) ** 2 - self.log_norm

    def _closed_form(self, x):
        r = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        dev = (r - self.radius) / self.sigma ** 2                      # ∂E/∂r
        unit = torch.where(r > 0, x / r.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(x))
        return (0.5 * dev * (r - self.radius)).squeeze(1) + self.log_norm, dev * unit   # 0 at the origin, as autograd

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact: uniform angle; radius by rejection from the envelope ``(r0 + max(r - r0, 0)) φ``.

        The envelope is a mixture of ``N(r0, σ^2)`` (weight ∝ r0 σ √(2π)) and ``r0 + Rayleigh(σ)``
        (weight ∝ σ^2); a candidate ``r`` is accepted with probability
        ``r / (r0 + max(r - r0, 0))`` (0 for ``r <= 0``), which is ``f / envelope``.
        """
        n = _check_count(n)
        r0, s = self.radius, self.sigma
        p_normal = r0 * math.sqrt(2 * math.pi) / (r0 * math.sqrt(2 * math.pi) + s)
        kept: list[torch.Tensor] = []
        have = 0
        while have < n:
            m = 2 * (n - have) + 64  # acceptance is >= 1/2
            pick_normal = self._draw((m,), generator, torch.rand) < p_normal
            normal = r0 + s * self._draw((m,), generator)
            rayleigh = r0 + s * torch.sqrt(-2.0 * torch.log1p(-self._draw((m,), generator, torch.rand)))
            r = torch.where(pick_normal, normal, rayleigh)
            ratio = torch.where(r > 0, r / (r0 + torch.clamp(r - r0, min=0.0)), torch.zeros_like(r))
            accepted = r[self._draw((m,), generator, torch.rand) < ratio]
            kept.append(accepted)
            have += accepted.shape[0]
        r = torch.cat(kept)[:n]
        theta = 2 * math.pi * self._draw((n,), generator, torch.rand)
        return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)


class Funnel(Target):
    """Neal's funnel in 2D: ``v ~ N(0, sigma_v^2)``, ``x | v ~ N(0, exp(v))``; column 0 is ``v``.

    ``bounds`` is a plotting box, clipped: ``v`` in ``±3 sigma_v`` and ``x`` in
    ``±3 exp(sigma_v / 2)``. The neck and the wide mouth reach outside it (1.3% of the mass
    at the default ``sigma_v = 1.5``), so do not use it as a quadrature box for the funnel.
    """

    def __init__(self, sigma_v: float = 1.5):
        super().__init__()
        self.sigma_v = _positive(sigma_v, "sigma_v")
        half_x = 3.0 * math.exp(self.sigma_v / 2)
        self.bounds = ((-3.0 * self.sigma_v, 3.0 * self.sigma_v), (-half_x, half_x))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self._check_points(x)
        v, y = x[:, 0], x[:, 1]
        return _normal_log_prob(v, 0.0, self.sigma_v) - 0.5 * y ** 2 * torch.exp(-v) - 0.5 * v - 0.5 * _LOG_2PI

    def _closed_form(self, x):
        v, y = x[:, 0], x[:, 1]
        var_v = self.sigma_v ** 2
        y_scaled = y * torch.exp(-v)                                   # ∂E/∂y
        e = 0.5 * v * v / var_v + math.log(self.sigma_v) + _LOG_2PI + 0.5 * y * y_scaled + 0.5 * v
        return e, torch.stack([v / var_v - 0.5 * y * y_scaled + 0.5, y_scaled], dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = self._draw((_check_count(n), 2), generator)
        v = self.sigma_v * z[:, 0]
        return torch.stack([v, torch.exp(0.5 * v) * z[:, 1]], dim=1)


class Squiggle(Target):
    """Sine wave: ``x1 ~ N(0, s^2)``, ``x2 | x1 ~ N(amplitude sin(omega x1), tau^2)``."""

    def __init__(self, s: float = 1.2, omega: float = 2.0, tau: float = 0.3, amplitude: float = 1.5):
        super().__init__()
        self.s, self.tau = _positive(s, "s"), _positive(tau, "tau")
        self.omega, self.amplitude = finite_number(omega, "omega"), finite_number(amplitude, "amplitude")
        half_y = abs(self.amplitude) + _TAIL_SIGMAS * self.tau
        self.bounds = ((-_TAIL_SIGMAS * self.s, _TAIL_SIGMAS * self.s), (-half_y, half_y))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self._check_points(x)
        x1, x2 = x[:, 0], x[:, 1]
        return _normal_log_prob(x1, 0.0, self.s) + _normal_log_prob(x2, self.amplitude * torch.sin(self.omega * x1), self.tau)

    def _closed_form(self, x):
        x1, x2 = x[:, 0], x[:, 1]
        s, tau, a, w = self.s, self.tau, self.amplitude, self.omega
        d = x2 - a * torch.sin(w * x1)
        r = d / (tau * tau)                                            # ∂E/∂x2
        e = 0.5 * (x1 * x1 / (s * s) + d * r) + math.log(s * tau) + _LOG_2PI
        return e, torch.stack([x1 / (s * s) - r * a * w * torch.cos(w * x1), r], dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = self._draw((_check_count(n), 2), generator)
        x1 = self.s * z[:, 0]
        return torch.stack([x1, self.amplitude * torch.sin(self.omega * x1) + self.tau * z[:, 1]], dim=1)


TARGETS: dict[str, Callable[[], Energy]] = {
    "gaussian": Gaussian,
    "mixture": GaussianMixture,
    "banana": Banana,
    "donut": Donut,
    "funnel": Funnel,
    "squiggle": Squiggle,
}
"""Default instances by name: ``TARGETS["banana"]()``."""

__all__ = ["Bounds", "Target", "Gaussian", "GaussianMixture", "Banana", "Donut", "Funnel", "Squiggle", "TARGETS"]
