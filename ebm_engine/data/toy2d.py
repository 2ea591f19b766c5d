"""2D toy data sets from the FFJORD / score-matching literature, drawn with an explicit generator.

The definitions follow FFJORD's ``toy_data.py`` (8gaussians, 2spirals, checkerboard, rings,
moons, pinwheel, swissroll, circles), written directly in torch. Where the original lays points
out deterministically (rings, circles, moons, spirals' arm choice, pinwheel's arm choice), every
point here picks its component and angle independently at random, so a batch is an i.i.d.
sample of the same limiting distribution; this is what makes the exact densities of
``true_log_prob`` correct.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ebm_engine.energies.targets import GaussianMixture

NAMES: tuple[str, ...] = ("8gaussians", "2spirals", "checkerboard", "rings", "moons", "pinwheel", "swissroll", "circles")

Bounds = tuple[tuple[float, float], tuple[float, float]]
LogProb = Callable[[torch.Tensor], torch.Tensor]

_EIGHT_SCALE = 4.0
_EIGHT_STD = 0.5
_EIGHT_SHRINK = 1.414  # FFJORD divides by 1.414, not sqrt(2)
_RING_RADII = (3.0, 2.25, 1.5, 0.75)  # FFJORD's rings: (1, 0.75, 0.5, 0.25) * 3
_RING_NOISE = 0.08
_CIRCLE_RADII = (3.0, 1.5)  # sklearn make_circles(factor=0.5) * 3
_CIRCLE_NOISE = 0.24  # noise 0.08, then * 3


def _check(name: str, n: int | None = None) -> None:
    if name not in NAMES:
        raise ValueError(f"unknown toy data set {name!r}; choose one of {', '.join(NAMES)}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int, got {n!r}")


def _rand(n: int, g: torch.Generator | None, *shape: int) -> torch.Tensor:
    return torch.rand((n, *shape), generator=g, device=_device(g), dtype=torch.float64)


def _randn(n: int, g: torch.Generator | None, *shape: int) -> torch.Tensor:
    return torch.randn((n, *shape), generator=g, device=_device(g), dtype=torch.float64)


def _randint(high: int, n: int, g: torch.Generator | None) -> torch.Tensor:
    return torch.randint(0, high, (n,), generator=g, device=_device(g))


def _device(g: torch.Generator | None) -> torch.device:
    return g.device if g is not None else torch.device("cpu")


def _unit(angle: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


def _eight_centres() -> torch.Tensor:
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    return _EIGHT_SCALE * _unit(angles)


def _eight_gaussians(n: int, g: torch.Generator | None) -> torch.Tensor:
    centres = _eight_centres().to(_device(g))[_randint(8, n, g)]
    return (centres + _EIGHT_STD * _randn(n, g, 2)) / _EIGHT_SHRINK


def _two_spirals(n: int, g: torch.Generator | None) -> torch.Tensor:
    t = torch.sqrt(_rand(n, g)) * (540 * 2 * math.pi / 360)
    arm = torch.stack([-torch.cos(t) * t, torch.sin(t) * t], dim=1) + 0.5 * _rand(n, g, 2)
    sign = 1.0 - 2.0 * _randint(2, n, g).to(arm.dtype)
    return sign[:, None] * arm / 3 + 0.1 * _randn(n, g, 2)


def _checkerboard(n: int, g: torch.Generator | None) -> torch.Tensor:
    x1 = 4 * _rand(n, g) - 2
    x2 = _rand(n, g) - 2 * _randint(2, n, g).to(x1.dtype) + torch.remainder(torch.floor(x1), 2)
    return 2 * torch.stack([x1, x2], dim=1)


def _noisy_rings(n: int, g: torch.Generator | None, radii: tuple[float, ...], noise: float) -> torch.Tensor:
    radius = torch.tensor(radii, dtype=torch.float64, device=_device(g))[_randint(len(radii), n, g)]
    points = radius[:, None] * _unit(2 * math.pi * _rand(n, g))
    return points + noise * _randn(n, g, 2)


def _moons(n: int, g: torch.Generator | None) -> torch.Tensor:
    angle = math.pi * _rand(n, g)
    outer = _unit(angle)
    inner = torch.stack([1 - torch.cos(angle), 1 - torch.sin(angle) - 0.5], dim=1)
    pick_inner = _randint(2, n, g).bool()[:, None]
    points = torch.where(pick_inner, inner, outer) + 0.1 * _randn(n, g, 2)
    return 2 * points + torch.tensor([-1.0, -0.2], dtype=points.dtype, device=points.device)


def _pinwheel(n: int, g: torch.Generator | None) -> torch.Tensor:
    radial_std, tangential_std, arms, rate = 0.3, 0.1, 5, 0.25
    features = _randn(n, g, 2) * torch.tensor([radial_std, tangential_std], dtype=torch.float64, device=_device(g))
    features[:, 0] += 1.0
    angles = 2 * math.pi * _randint(arms, n, g).to(features.dtype) / arms + rate * torch.exp(features[:, 0])
    c, s = torch.cos(angles), torch.sin(angles)
    # FFJORD's einsum("ti,tij->tj") with rotations [[c, -s], [s, c]]: features @ R.
    return 2 * torch.stack([features[:, 0] * c + features[:, 1] * s, -features[:, 0] * s + features[:, 1] * c], dim=1)


def _swissroll(n: int, g: torch.Generator | None) -> torch.Tensor:
    # sklearn make_swiss_roll(noise=1.0) keeps (t cos t, t sin t) in columns 0 and 2; then / 5.
    t = 1.5 * math.pi * (1 + 2 * _rand(n, g))
    roll = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    return (roll + _randn(n, g, 2)) / 5


_SAMPLERS: dict[str, Callable[[int, torch.Generator | None], torch.Tensor]] = {
    "8gaussians": _eight_gaussians,
    "2spirals": _two_spirals,
    "checkerboard": _checkerboard,
    "rings": lambda n, g: _noisy_rings(n, g, _RING_RADII, _RING_NOISE),
    "moons": _moons,
    "pinwheel": _pinwheel,
    "swissroll": _swissroll,
    "circles": lambda n, g: _noisy_rings(n, g, _CIRCLE_RADII, _CIRCLE_NOISE),
}


def sample(name: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` points of data set ``name``, shape ``(n, 2)``, float32, on the generator's device.

    All randomness comes from ``generator``; ``None`` uses torch's default generator.
    """
    _check(name, n)
    return _SAMPLERS[name](n, generator).to(torch.float32)


def bounds(name: str) -> Bounds:
    """A box holding the data with margin, for plots and grid quadrature."""
    _check(name)
    half = 4.0 if name == "checkerboard" else 4.5
    return ((-half, half), (-half, half))


def _ring_log_prob(radii: tuple[float, ...], noise: float) -> LogProb:
    """Equal-weight mixture of uniform circles blurred by N(0, noise^2 I).

    Each component is ``exp(-(r^2 + R^2) / (2σ^2)) I0(r R / σ^2) / (2π σ^2)``; written with the
    scaled Bessel function ``i0e`` it is ``exp(-(r - R)^2 / (2σ^2)) i0e(r R / σ^2) / (2π σ^2)``.
    """
    def log_prob(x: torch.Tensor) -> torch.Tensor:
        r = torch.linalg.vector_norm(x, dim=1)[:, None]
        big_r = torch.tensor(radii, dtype=x.dtype, device=x.device)[None]
        comp = -0.5 * ((r - big_r) / noise) ** 2 + torch.log(torch.special.i0e(r * big_r / noise ** 2))
        return torch.logsumexp(comp, dim=1) - math.log(len(radii) * 2 * math.pi * noise ** 2)
    return log_prob


def _checkerboard_log_prob(x: torch.Tensor) -> torch.Tensor:
    """Uniform on the 8 filled 2x2 squares of [-4, 4)^2 (total area 32); -inf elsewhere."""
    cells = torch.floor(x / 2)
    inside = ((x >= -4) & (x < 4)).all(dim=1) & (torch.remainder(cells.sum(dim=1), 2) == 0)
    return torch.where(inside, torch.full_like(x[:, 0], -math.log(32.0)), torch.full_like(x[:, 0], -math.inf))


def true_log_prob(name: str) -> LogProb | None:
    """The exact log-density ``x (n, 2) -> (n,)`` of data set ``name``, or ``None`` if not known in closed form.

    Known: 8gaussians, rings, circles, checkerboard.
    """
    _check(name)
    if name == "8gaussians":
        mixture = GaussianMixture(_eight_centres() / _EIGHT_SHRINK, _EIGHT_STD / _EIGHT_SHRINK, None)
        return mixture.log_prob
    if name == "rings":
        return _ring_log_prob(_RING_RADII, _RING_NOISE)
    if name == "circles":
        return _ring_log_prob(_CIRCLE_RADII, _CIRCLE_NOISE)
    if name == "checkerboard":
        return _checkerboard_log_prob
    return None


__all__ = ["NAMES", "sample", "bounds", "true_log_prob"]
