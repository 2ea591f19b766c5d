"""Constraints: per-sample violations and penalties, exact projections, plain data, validation.

Projections are checked against the analytic answer and against brute force on a fine 2D grid
(the nearest feasible grid point is within half a grid diagonal of the true projection); the
simplex projection against a reference that bisects on the threshold instead of sorting.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from ebm_engine.energies.constraints import (
    Ball, Box, Constraint, HalfPlane, NonNegative, Simplex, constraint_from_dict, rounding_tolerance,
)
from ebm_engine.energies.penalties import ConstrainedEnergy, ConstraintPenalty
from ebm_engine.energies.targets import Gaussian

INF = math.inf


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, scale: float = 2.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=gen(seed), dtype=torch.float64)


def std_gaussian(mean=(0.0, 0.0)) -> Gaussian:
    return Gaussian(mean, ((1.0, 0.0), (0.0, 1.0))).double()


# Constraints in 2D used by the generic checks, with a feasible and an infeasible point each.
CASES = {
    "half_plane": (HalfPlane([3.0, 4.0], 5.0), [0.0, 0.0], [3.0, 4.0]),
    "ball": (Ball([1.0, 1.0], 2.0), [1.5, 0.5], [4.0, 5.0]),
    "box_inside": (Box([-1.0, 0.0], [1.0, 2.0]), [0.0, 1.0], [3.0, 5.0]),
    "box_outside": (Box([-1.0, 0.0], [1.0, 2.0], mode="outside"), [3.0, 5.0], [0.2, 1.1]),
    "non_negative": (NonNegative(), [0.5, 2.0], [-1.0, 2.0]),
    "simplex": (Simplex(), [0.25, 0.75], [0.5, 0.9]),
}
DISTANCE_CASES = [k for k in CASES if k != "simplex"]  # violation = distance to the feasible set


# ----------------------------------------------------------------------------- per-sample penalties

def batch_summed_ball_penalty(x: torch.Tensor) -> torch.Tensor:
    """A wrong shape of penalty: violations summed over the batch, broadcast to every sample."""
    return torch.clamp(x.norm(dim=1) - 1.0, min=0).sum() * torch.ones(len(x), dtype=x.dtype)


def only_sample_k_changes(energy_fn, x: torch.Tensor, k: int, new_point: torch.Tensor) -> bool:
    moved = x.clone()
    moved[k] = new_point
    before, after = energy_fn(x), energy_fn(moved)
    others = torch.arange(len(x)) != k
    return bool(torch.equal(before[others], after[others])) and not torch.equal(before[k], after[k])


@pytest.mark.parametrize("name", list(CASES))
def test_penalty_is_per_sample(name):
    constraint, inside, outside = CASES[name]
    k = 3
    x = torch.tensor([inside] * 8, dtype=torch.float64)
    x[k] = torch.tensor(outside, dtype=torch.float64)
    base = std_gaussian()
    energy = ConstrainedEnergy(base, [(constraint, 7.0)])
    extra = energy(x) - base(x)
    assert extra[k] > 0
    assert torch.equal(extra[torch.arange(8) != k], torch.zeros(7, dtype=torch.float64))
    # The penalty of sample k does not depend on how many other samples there are.
    assert torch.allclose(energy(x[k:k + 1]), energy(x)[k:k + 1], rtol=0, atol=1e-12)


def test_changing_one_sample_leaves_the_others_energies_unchanged():
    x = randn(16, 2, seed=1)
    energy = ConstrainedEnergy(std_gaussian(), [(Ball([0.0, 0.0], 1.0), 5.0), (HalfPlane([1.0, 0.0], 0.5), 2.0, 2),
                                                (Box([-3.0, -3.0], [3.0, 3.0]), INF)])
    assert only_sample_k_changes(energy, x, 5, torch.tensor([2.5, -2.0], dtype=torch.float64))
    # The check has teeth: a batch-summed penalty changes every sample's energy.
    assert not only_sample_k_changes(batch_summed_ball_penalty, x, 5, torch.tensor([2.5, -2.0], dtype=torch.float64))


# ----------------------------------------------------------------------------- violations

@pytest.mark.parametrize("constraint, point, expected", [
    (HalfPlane([3.0, 4.0], 5.0), [0.0, 0.0], 0.0),
    (HalfPlane([3.0, 4.0], 5.0), [1.0, 0.5], 0.0),          # on the boundary
    (HalfPlane([3.0, 4.0], 5.0), [3.0, 4.0], 4.0),          # (25 - 5) / 5
    (HalfPlane([6.0, 8.0], 10.0), [3.0, 4.0], 4.0),         # a scaled (normal, offset) is the same set
    (Ball([1.0, 1.0], 2.0), [1.0, 1.0], 0.0),
    (Ball([1.0, 1.0], 2.0), [3.0, 1.0], 0.0),               # on the sphere
    (Ball([1.0, 1.0], 2.0), [4.0, 5.0], 3.0),               # 5 - 2
    (Ball(0.0, 0.0), [3.0, 4.0], 5.0),                      # scalar centre, zero radius
    (Box([-1.0, 0.0], [1.0, 2.0]), [0.0, 1.0], 0.0),
    (Box([-1.0, 0.0], [1.0, 2.0]), [-3.0, 1.0], 2.0),
    (Box([-1.0, 0.0], [1.0, 2.0]), [3.0, 5.0], math.sqrt(13.0)),  # to the corner (1, 2)
    (Box([-1.0, 0.0], [1.0, 2.0], "outside"), [0.0, 1.0], 1.0),   # centre: 1 from every face
    (Box([-1.0, 0.0], [1.0, 2.0], "outside"), [0.5, 1.5], 0.5),
    (Box([-1.0, 0.0], [1.0, 2.0], "outside"), [1.0, 1.0], 0.0),   # on a face
    (Box([-1.0, 0.0], [1.0, 2.0], "outside"), [3.0, 5.0], 0.0),
    (NonNegative(), [1.0, 0.0, 2.0], 0.0),
    (NonNegative(), [-3.0, 4.0, -4.0], 5.0),
    (Simplex(), [0.25, 0.25, 0.5], 0.0),
    (Simplex(), [0.5, 0.5, 0.5], 0.5),
    (Simplex(), [-0.5, 1.0, 0.25], 0.75),                   # |0.75 - 1| + 0.5
])
def test_violation_on_hand_computed_points(constraint, point, expected):
    x = torch.tensor([point], dtype=torch.float64)
    v = constraint.violation(x)
    assert v.shape == (1,)
    assert float(v) == pytest.approx(expected, abs=1e-12)
    assert bool(constraint.satisfied(x)) == (expected == 0.0)


@pytest.mark.parametrize("name", list(CASES))
def test_violation_is_non_negative_and_zero_exactly_on_projections(name):
    constraint = CASES[name][0]
    x = randn(500, 2, seed=2)
    v = constraint.violation(x)
    assert v.shape == (500,) and (v >= 0).all() and (v > 0).any()
    assert ((v == 0) == constraint.satisfied(x, tol=0.0)).all()
    p = constraint.project(x)
    assert constraint.satisfied(p).all() and constraint.violation(p).max() < 1e-12


@pytest.mark.parametrize("name", DISTANCE_CASES)
def test_geometric_violation_is_the_distance_to_the_projection(name):
    constraint = CASES[name][0]
    x = randn(500, 2, seed=3)
    dist = (x - constraint.project(x)).norm(dim=1)
    assert torch.allclose(constraint.violation(x), dist, rtol=1e-12, atol=1e-12)


def test_violation_flattens_event_dimensions_per_sample():
    x = randn(6, 2, 2, seed=4)
    ball = Ball(0.0, 1.0)
    flat = x.reshape(6, 4)
    assert torch.allclose(ball.violation(x), torch.clamp(flat.norm(dim=1) - 1.0, min=0))
    p = ball.project(x)
    assert p.shape == x.shape
    assert (p.reshape(6, 4).norm(dim=1) <= 1.0 + 1e-12).all()
    with pytest.raises(ValueError, match="dimension"):
        Ball([0.0, 0.0, 0.0], 1.0).violation(randn(3, 2))
    with pytest.raises(ValueError, match="dimension"):
        HalfPlane([1.0], 0.0).violation(randn(3, 2))


# ----------------------------------------------------------------------------- projections

GRID_STEP = 0.01
_axis = torch.arange(-400, 401, dtype=torch.float64) / 100  # exact multiples of 0.01, so -1.0 is -1.0
GRID = torch.cartesian_prod(_axis, _axis)
GRID_SLACK = GRID_STEP * math.sqrt(2) + 1e-9  # a feasible grid point lies within a cell diagonal
QUERY_POINTS = torch.tensor([[3.0, 2.5], [-2.2, 0.7], [0.1, -3.1], [0.3, 0.9], [-0.6, 1.2], [1.9, -0.4]],
                            dtype=torch.float64)


def grid_nearest(feasible: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Brute force: nearest feasible grid point to each row of x, and its distance."""
    pts = GRID[feasible]
    d = torch.cdist(x, pts)
    dist, idx = d.min(dim=1)
    return pts[idx], dist


@pytest.mark.parametrize("name", ["half_plane", "ball", "box_inside", "box_outside", "non_negative"])
def test_projection_is_the_nearest_feasible_point_by_grid_search(name):
    constraint = CASES[name][0]
    p = constraint.project(QUERY_POINTS)
    nearest, dist = grid_nearest(constraint.satisfied(GRID, tol=0.0), QUERY_POINTS)
    assert torch.allclose((QUERY_POINTS - p).norm(dim=1), dist, atol=GRID_SLACK)
    # Each of these sets has a unique nearest point for these queries: the grid's is next to it.
    assert ((nearest - p).norm(dim=1) <= 0.1).all()


@pytest.mark.parametrize("name", list(CASES))
def test_projection_lands_in_the_set_and_is_idempotent(name):
    constraint = CASES[name][0]
    x = randn(1000, 2, seed=5, scale=3.0)
    p = constraint.project(x)
    assert p.shape == x.shape
    assert constraint.satisfied(p).all()
    assert torch.allclose(constraint.project(p), p, rtol=0, atol=1e-12)
    feasible = constraint.satisfied(x, tol=0.0)
    assert torch.equal(p[feasible], x[feasible])  # feasible points do not move


def test_projections_against_the_analytic_answer():
    x = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    assert torch.allclose(HalfPlane([3.0, 4.0], 5.0).project(x), torch.tensor([[0.6, 0.8]], dtype=torch.float64))
    assert torch.allclose(Ball([0.0, 0.0], 2.5).project(x), torch.tensor([[1.5, 2.0]], dtype=torch.float64))
    assert torch.allclose(Box([-1.0, 0.0], [1.0, 2.0]).project(x), torch.tensor([[1.0, 2.0]], dtype=torch.float64))
    inner = torch.tensor([[0.2, 1.1], [-0.9, 1.0], [0.0, 0.3]], dtype=torch.float64)
    expected = torch.tensor([[1.0, 1.1], [-1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    assert torch.equal(Box([-1.0, 0.0], [1.0, 2.0], "outside").project(inner), expected)
    assert torch.equal(NonNegative().project(torch.tensor([[-1.0, 2.0, -0.5]])), torch.tensor([[0.0, 2.0, 0.0]]))
    assert torch.allclose(Simplex().project(torch.tensor([[2.0, 0.0, 0.5]], dtype=torch.float64)),
                          torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(Simplex().project(torch.tensor([[0.5, 0.5, 0.5]], dtype=torch.float64)),
                          torch.full((1, 3), 1 / 3, dtype=torch.float64))


def simplex_projection_by_bisection(v: torch.Tensor, iters: int = 200) -> torch.Tensor:
    """Reference: bisect on θ so that Σ max(v_i - θ, 0) = 1 (a decreasing function of θ)."""
    lo = v.min(dim=1, keepdim=True).values - 1.0   # sum >= d >= 1 here
    hi = v.max(dim=1, keepdim=True).values         # sum = 0 here
    for _ in range(iters):
        mid = (lo + hi) / 2
        too_big = torch.clamp(v - mid, min=0).sum(dim=1, keepdim=True) > 1.0
        lo = torch.where(too_big, mid, lo)
        hi = torch.where(too_big, hi, mid)
    return torch.clamp(v - (lo + hi) / 2, min=0)


@pytest.mark.parametrize("d", [1, 2, 3, 7, 20])
def test_simplex_projection_matches_a_bisection_reference(d):
    v = randn(300, d, seed=10 + d, scale=1.5)
    v[:10] = 0.3  # ties
    v[10:20] = torch.softmax(v[10:20], dim=1)  # already on the simplex
    p = Simplex().project(v)
    assert torch.allclose(p, simplex_projection_by_bisection(v), rtol=0, atol=1e-10)
    assert (p >= 0).all() and torch.allclose(p.sum(dim=1), torch.ones(300, dtype=torch.float64))
    assert torch.allclose(p[10:20], v[10:20], atol=1e-12)


def test_simplex_projection_is_nearest_in_2d_by_grid_search():
    # In 2D the simplex is the segment from (1, 0) to (0, 1): sample it finely.
    t = torch.linspace(0, 1, 100001, dtype=torch.float64)
    segment = torch.stack([t, 1 - t], dim=1)
    p = Simplex().project(QUERY_POINTS)
    dist = torch.cdist(QUERY_POINTS, segment).min(dim=1).values
    assert torch.allclose((QUERY_POINTS - p).norm(dim=1), dist, atol=1e-5)


def test_projection_onto_several_hard_constraints_is_nearest_in_the_intersection():
    ball, plane = Ball([0.0, 0.0], 2.0), HalfPlane([1.0, 1.0], 1.0)
    energy = ConstrainedEnergy(std_gaussian(), [(ball, INF), (plane, INF), (NonNegative(), 3.0)])
    p = energy.project(QUERY_POINTS)
    assert ball.satisfied(p, tol=1e-9).all() and plane.satisfied(p, tol=1e-9).all()
    feasible = ball.satisfied(GRID, tol=0.0) & plane.satisfied(GRID, tol=0.0)
    nearest, dist = grid_nearest(feasible, QUERY_POINTS)
    assert torch.allclose((QUERY_POINTS - p).norm(dim=1), dist, atol=GRID_SLACK + 1e-6)
    assert ((nearest - p).norm(dim=1) <= 0.1).all()
    # The soft constraint does not take part in the projection.
    assert (p < 0).any()


def test_non_convex_hard_constraint_is_projected_last():
    hole = Box([-0.5, -0.5], [0.5, 0.5], "outside")
    energy = ConstrainedEnergy(std_gaussian(), [(hole, INF), (Ball([0.0, 0.0], 2.0), INF)])
    x = randn(500, 2, seed=6)
    p = energy.project(x)
    assert hole.satisfied(p, tol=0.0).all()                      # exactly outside the hole
    assert energy.violation_rate(p) == 0.0                        # and in the ball (faces are inside it)
    assert torch.isfinite(energy(p)).all()


def test_project_without_hard_constraints_is_the_identity():
    x = randn(10, 2)
    energy = ConstrainedEnergy(std_gaussian(), [(Ball([0.0, 0.0], 1.0), 5.0)])
    assert energy.project(x) is x
    assert not energy.has_hard


# ----------------------------------------------------------------------------- degenerate boxes

def test_zero_area_box_does_not_crash():
    x = randn(100, 2, seed=11)
    for low, high in (([0.0, 0.0], [0.0, 0.0]), ([0.0, -1.0], [0.0, 1.0])):
        outside = Box(low, high, "outside")
        assert torch.equal(outside.violation(x), torch.zeros(100, dtype=torch.float64))
        assert outside.satisfied(x).all() and torch.equal(outside.project(x), x)
        inside = Box(low, high, "inside")
        p = inside.project(x)
        assert inside.satisfied(p).all() and (p[:, 0] == 0.0).all()
        energy = ConstrainedEnergy(std_gaussian(), [(outside, INF), (Box(low, high), 4.0, 2)])
        e, g = energy.energy_and_grad(x)
        assert torch.isfinite(e).all() and torch.isfinite(g).all()
        assert torch.equal(energy.project(x), x)  # everything is outside an empty interior
    point = Box([0.5, 0.5], [0.5, 0.5])
    assert torch.equal(point.project(x), torch.full_like(x, 0.5))


# ----------------------------------------------------------------------------- plain data, validation

@pytest.mark.parametrize("name", list(CASES))
def test_to_dict_from_dict_round_trip(name):
    constraint = CASES[name][0]
    data = json.loads(json.dumps(constraint.to_dict()))
    assert data["kind"] == constraint.kind
    rebuilt = constraint_from_dict(data)
    assert type(rebuilt) is type(constraint) and rebuilt == constraint
    assert Constraint.from_dict(data) == constraint
    assert rebuilt.describe() == constraint.describe() and constraint.describe()
    x = randn(50, 2, seed=12)
    assert torch.equal(rebuilt.violation(x), constraint.violation(x))


def test_descriptions_are_short_and_specific():
    assert Ball([0.0, 1.0], 2.0).describe() == "ball ‖x − (0, 1)‖ ≤ 2"
    assert HalfPlane([1.0, -2.0], 3.0).describe() == "half-plane 1·x0 + -2·x1 ≤ 3"
    assert Box([-1, 0], [1, 2], "outside").describe() == "outside box [-1, 1] × [0, 2]"
    energy = ConstrainedEnergy(std_gaussian(), [(Ball(0.0, 1.0), INF), (NonNegative(), 2.0, 2), (Simplex(), 0.0)])
    assert "hard" in energy.describe() and "squared" in energy.describe() and "off" in energy.describe()


@pytest.mark.parametrize("make", [
    lambda: Ball([0.0, 0.0], -1.0),
    lambda: Ball([0.0, float("nan")], 1.0),
    lambda: Ball([0.0, 0.0], INF),
    lambda: Box([0.0, 1.0], [1.0, 0.0]),
    lambda: Box([0.0, 0.0], [1.0, 1.0, 1.0]),
    lambda: Box([0.0, 0.0], [1.0, 1.0], mode="around"),
    lambda: Box([-INF, 0.0], [1.0, 1.0]),
    lambda: HalfPlane([0.0, 0.0], 1.0),
    lambda: HalfPlane([1.0, 0.0], float("nan")),
    lambda: HalfPlane([[1.0, 0.0]], 1.0),
    lambda: constraint_from_dict({"kind": "torus"}),
    lambda: ConstraintPenalty(Ball(0.0, 1.0), -2.0),
    lambda: ConstraintPenalty(Ball(0.0, 1.0), 1.0, power=3),
    lambda: ConstrainedEnergy(std_gaussian(), [(lambda x: x, 1.0)]),
])
def test_invalid_parameters_raise_clear_value_errors(make):
    with pytest.raises(ValueError):
        make()


def test_rounding_tolerance_scales_with_dtype_and_magnitude():
    x = torch.tensor([[0.0, 0.0], [100.0, 0.0]])
    tol = rounding_tolerance(x)
    assert tol[1] > tol[0] > 0
    assert rounding_tolerance(x.double())[0] < 1e-12 < tol[0] < 1e-4
