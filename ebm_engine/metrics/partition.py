"""Partition functions of energies: exact-on-a-grid quadrature for 2D, importance sampling in general.

For an energy ``E`` at temperature ``T`` the partition function is ``Z = ∫ exp(-E(x)/T) dx``.
In 2D, midpoint quadrature on a fine grid over a box that holds the mass gives ``Z`` to high
accuracy: that is the reference. Importance sampling, ``Z = E_q[exp(-E/T) / q]``, works in any
dimension and is checked against the grid. (A Monte Carlo average of ``exp(-E/T)`` without the
proposal density ``q`` is not an estimator of ``Z``.)

Every function takes an ``Energy`` or any callable mapping ``(n, d) -> (n,)``. A module is
evaluated on the device and in the dtype of its first floating parameter (or buffer); a plain
callable on the CPU (or the ``device`` given) in the input's dtype. NaN energies raise
``FloatingPointError`` with their count: they are never dropped.

Each estimator is ``stepwise``: a plain call computes it, and ``estimator.steps(...)`` is a generator
that yields after every batch of energy evaluations, so a live view can spread it over frames or
drop it when a command waits.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ebm_engine.energies.targets import Gaussian
from ebm_engine.samplers.state import check_count, check_positive
from ebm_engine.stepwise import stepwise

EnergyFn = Callable[[torch.Tensor], torch.Tensor]
Bounds = Sequence[Sequence[float]]

# Points per evaluation batch on grids: small enough that a 128-wide MLP's activations stay in the
# CPU's cache (an 8-element group average of a 96x96 grid: 90 ms in one batch, 35 ms in batches of 2048).
GRID_BATCH = 2048


# --- validation -----------------------------------------------------------------------------------

def _check_bounds(bounds: Bounds, dims: int | None = 2) -> tuple[tuple[float, float], ...]:
    try:
        box = tuple((float(lo), float(hi)) for lo, hi in bounds)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bounds must be ((xmin, xmax), (ymin, ymax)), got {bounds!r}") from err
    if dims is not None and len(box) != dims:
        raise ValueError(f"bounds must give {dims} (min, max) pairs, got {len(box)}")
    if not box:
        raise ValueError("bounds must give at least one (min, max) pair")
    for axis, (lo, hi) in enumerate(box):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"bounds axis {axis} must be finite with min < max, got ({lo}, {hi})")
    return box


def _check_no_nan(values: torch.Tensor, what: str) -> None:
    bad = int(torch.isnan(values).sum())
    if bad:
        raise FloatingPointError(f"{bad} of {values.numel()} {what} are NaN")


# --- evaluation -----------------------------------------------------------------------------------

def _placement(energy: EnergyFn, device: torch.device | str | None) -> tuple[torch.device, torch.dtype | None]:
    """Device and dtype to evaluate on: the module's own, else ``device`` (or CPU) and the input's dtype."""
    if isinstance(energy, nn.Module):
        for tensor in (*energy.parameters(), *energy.buffers()):
            if tensor.is_floating_point():
                if device is not None and torch.device(device) != tensor.device:
                    raise ValueError(f"device {device} was requested but the energy lives on {tensor.device}")
                return tensor.device, tensor.dtype
    return torch.device(device if device is not None else "cpu"), None


@stepwise
def _evaluate(energy: EnergyFn, x: torch.Tensor, batch_size: int,
              device: torch.device | str | None = None) -> torch.Tensor:
    """Energies of ``x`` in batches, without a graph, as a flat ``(n,)`` tensor on the eval device.

    An energy with a true ``one_batch`` attribute (a stochastic estimate whose noise is shared
    within one call) is evaluated in a single call, so a grid shows no seams between batches.
    """
    place, dtype = _placement(energy, device)
    if getattr(energy, "one_batch", False):
        batch_size = max(1, x.shape[0])
    out = []
    for start in range(0, x.shape[0], batch_size):
        if start:
            yield   # between batches, never inside no_grad: the caller's grad mode is its own while we wait
        chunk = x[start:start + batch_size].to(device=place, dtype=dtype or x.dtype)
        with torch.no_grad():
            e = energy(chunk)
        if e.dim() == 2 and e.shape[1] == 1:
            e = e.squeeze(1)
        if e.shape != (chunk.shape[0],):
            raise ValueError(f"energy returned shape {tuple(e.shape)}, expected ({chunk.shape[0]},)")
        out.append(e)
    return torch.cat(out)


# --- grid quadrature ------------------------------------------------------------------------------

def grid_points(bounds: Bounds, resolution: int, device: torch.device | str = "cpu",
                dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cell centres of a ``resolution x resolution`` grid over ``bounds``: ``(xs, ys, points)``, where
    ``points`` is ``(resolution², 2)`` in row-major order (row = y), the order ``energy_on_grid`` uses."""
    (x0, x1), (y0, y1) = _check_bounds(bounds)
    check_count("resolution", resolution, 2)
    dtype = dtype or torch.get_default_dtype()
    centres = (torch.arange(resolution, dtype=torch.float64) + 0.5) / resolution
    xs = (x0 + (x1 - x0) * centres).to(device=device, dtype=dtype)
    ys = (y0 + (y1 - y0) * centres).to(device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return xs, ys, torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)


@stepwise
def energy_on_grid(energy: EnergyFn, bounds: Bounds, resolution: int = 200,
                   device: torch.device | str | None = None,
                   batch_size: int = GRID_BATCH, quarter_turn: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Energies at the cell centres of a ``resolution x resolution`` grid over ``bounds``.

    Returns ``(xs, ys, E)``: ``xs`` and ``ys`` of shape ``(resolution,)``, and ``E`` of shape
    ``(resolution, resolution)`` with ``E[i, j] = energy((xs[j], ys[i]))``, so row = y and
    ``E`` draws directly as an image. All three live on the evaluation device.

    ``quarter_turn``: the energy is invariant under the rotation ``(x, y) -> (-y, x)``. On a square
    box centred on the origin with an even resolution only one quadrant is evaluated, and the
    other three are that quadrant turned (a quarter of the work); on other grids it changes nothing.
    """
    (x0, x1), (y0, y1) = _check_bounds(bounds)
    check_count("resolution", resolution, 2)
    check_count("batch_size", batch_size, 1)
    place, dtype = _placement(energy, device)
    xs, ys, points = grid_points(bounds, resolution, place, dtype or torch.get_default_dtype())
    if quarter_turn and resolution % 2 == 0 and x0 == -x1 == y0 == -y1:
        return xs, ys, (yield from _turned_quadrant(energy, xs, batch_size, place))
    e = yield from _evaluate.steps(energy, points, batch_size, place)
    return xs, ys, e.reshape(resolution, resolution)


def _turned_quadrant(energy: EnergyFn, centres: torch.Tensor, batch_size: int, place: torch.device) -> torch.Tensor:
    """The grid of a quarter-turn invariant energy from its quadrant ``x, y > 0``: ``E[i, j] = E[R-1-j, i]``."""
    resolution = len(centres)
    m = resolution // 2
    points = torch.cartesian_prod(centres[m:], centres[m:]).flip(1)   # (x, y), row = y as in grid_points
    quadrant = yield from _evaluate.steps(energy, points, batch_size, place)
    block = quadrant.new_zeros(resolution, resolution)
    block[m:, m:] = quadrant.reshape(m, m)
    return sum(torch.rot90(block, -k) for k in range(4))   # each turn carries the quadrant to the next, over zeros


@stepwise
def log_partition_grid(energy: EnergyFn, bounds: Bounds, resolution: int = 200,
                       temperature: float = 1.0) -> float:
    """``log ∫_box exp(-E(x)/T) dx`` by midpoint quadrature (logsumexp plus log cell area).

    Exact up to quadrature error and the mass outside the box: choose a box that holds the mass
    and a resolution that resolves the density's finest feature.
    """
    return (yield from log_density_grid.steps(energy, bounds, resolution, temperature))[3]


@stepwise
def log_density_grid(energy: EnergyFn, bounds: Bounds, resolution: int = 200, temperature: float = 1.0
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """The grid-normalised log-density ``-E/T - log Z`` at the cell centres: ``(xs, ys, log_p, log_z)``.

    ``log_p[i, j]`` is at ``(xs[j], ys[i])`` (as in ``energy_on_grid``), float64.
    """
    (x0, x1), (y0, y1) = box = _check_bounds(bounds)
    t = check_positive("temperature", temperature)
    xs, ys, e = yield from energy_on_grid.steps(energy, box, resolution)
    _check_no_nan(e, "grid energies")
    log_cell = math.log((x1 - x0) / resolution) + math.log((y1 - y0) / resolution)
    log_z = float(torch.logsumexp(-e.double().reshape(-1) / t, dim=0)) + log_cell
    return xs, ys, -e.double() / t - log_z, log_z


@stepwise
def grid_nll(energy: EnergyFn, points: torch.Tensor, bounds: Bounds, resolution: int = 200,
             temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats) of ``points (n, 2)`` under ``exp(-E/T) / Z_grid``.

    Equals ``mean(E(x)/T) + log Z_grid``; invariant to adding a constant to the energy.
    """
    if points.dim() != 2 or points.shape[1] != 2 or points.shape[0] < 1:
        raise ValueError(f"points must have shape (n, 2) with n >= 1, got {tuple(points.shape)}")
    t = check_positive("temperature", temperature)
    log_z = yield from log_partition_grid.steps(energy, bounds, resolution, t)
    e = yield from _evaluate.steps(energy, points, GRID_BATCH)
    _check_no_nan(e, "energies of the points")
    return float(e.double().mean()) / t + log_z


# --- importance sampling --------------------------------------------------------------------------

@stepwise
def log_partition_importance(energy: EnergyFn, proposal_sample: Callable[[int, torch.Generator | None], torch.Tensor],
                             proposal_log_prob: Callable[[torch.Tensor], torch.Tensor], n_samples: int,
                             temperature: float = 1.0, generator: torch.Generator | None = None,
                             batch_size: int = 65536) -> tuple[float, float]:
    """Importance-sampling estimate of ``log Z`` and its standard error.

    Draws ``x_i ~ q`` via ``proposal_sample(m, generator)``, forms ``log w_i = -E(x_i)/T - log q(x_i)``
    and returns ``log Ẑ = logsumexp(log w) - log n``. ``Ẑ`` is unbiased for ``Z`` when ``q > 0``
    wherever ``exp(-E/T) > 0``. The standard error of ``log Ẑ`` is by the delta method,
    ``sd(Ẑ) / Ẑ = std(w / mean(w)) / sqrt(n)``; it is itself an estimate and is optimistic when
    the proposal misses mass (heavy-tailed weights).
    """
    n = check_count("n_samples", n_samples, 2)
    t = check_positive("temperature", temperature)
    check_count("batch_size", batch_size, 1)
    log_w = []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        x = proposal_sample(m, generator)
        with torch.no_grad():
            log_q = proposal_log_prob(x)
        if log_q.shape != (m,):
            raise ValueError(f"proposal_log_prob returned shape {tuple(log_q.shape)}, expected ({m},)")
        e = yield from _evaluate.steps(energy, x, batch_size)
        _check_no_nan(e, "energies of the proposal samples")
        _check_no_nan(log_q, "proposal log-densities")
        log_w.append(-e.double().cpu() / t - log_q.double().cpu())
    lw = torch.cat(log_w)
    log_sum = torch.logsumexp(lw, dim=0)
    if not torch.isfinite(log_sum):
        raise FloatingPointError(f"importance weights sum to {float(log_sum.exp())}: no usable estimate")
    normalised = torch.exp(lw - log_sum + math.log(n))  # mean 1
    stderr = float(normalised.std(unbiased=True)) / math.sqrt(n)
    return float(log_sum) - math.log(n), stderr


@stepwise
def log_partition_mc(energy: EnergyFn, bounds: Bounds, n_samples: int, temperature: float = 1.0,
                     generator: torch.Generator | None = None, proposal: str = "gaussian") -> tuple[float, float]:
    """Importance-sampling ``(log Z, stderr)`` with a proposal fitted to ``bounds`` (any dimension).

    ``proposal="gaussian"``: independent normals centred on the box, std = half-width per axis;
    estimates ``Z`` over all space. ``proposal="uniform"``: uniform on the box; estimates the
    integral over the box only, the same quantity as ``log_partition_grid``.
    """
    box = _check_bounds(bounds, dims=None)
    lo = torch.tensor([a for a, _ in box], dtype=torch.float64)
    hi = torch.tensor([b for _, b in box], dtype=torch.float64)
    if proposal == "gaussian":
        q = Gaussian((lo + hi) / 2, torch.diag(((hi - lo) / 2) ** 2))
        return (yield from log_partition_importance.steps(energy, q.sample, q.log_prob, n_samples, temperature,
                                                          generator))
    if proposal == "uniform":
        log_volume = float(torch.log(hi - lo).sum())

        def sample_box(m: int, g: torch.Generator | None) -> torch.Tensor:
            device = g.device if g is not None else torch.device("cpu")
            u = torch.rand((m, len(box)), generator=g, device=device, dtype=torch.float64)
            return (lo.to(device) + (hi - lo).to(device) * u).to(torch.get_default_dtype())

        def log_q(x: torch.Tensor) -> torch.Tensor:
            return torch.full((x.shape[0],), -log_volume, dtype=torch.float64, device=x.device)

        return (yield from log_partition_importance.steps(energy, sample_box, log_q, n_samples, temperature,
                                                          generator))
    raise ValueError(f"unknown proposal {proposal!r}; use 'gaussian' or 'uniform'")


__all__ = ["energy_on_grid", "log_partition_grid", "log_density_grid", "grid_nll",
           "log_partition_importance", "log_partition_mc"]

# RBM partition functions live in their own module; re-exported here so all log Z estimators share one import.
from ebm_engine.metrics.rbm_partition import rbm_log_partition_ais, rbm_log_partition_exact  # noqa: E402,F401

__all__ += ["rbm_log_partition_exact", "rbm_log_partition_ais"]
