"""RollingGrid: one stale band per update, and the bands add up to the whole grid."""
import pytest
import torch

from ebm_engine.metrics.partition import energy_on_grid
from ebm_engine.runtime.jobs.rolling_grid import RollingGrid

BOUNDS = ((-2.0, 2.0), (-1.0, 3.0))


def bowl(scale: float):
    return lambda x: scale * (x ** 2).sum(dim=1) + x[:, 0]


def test_the_first_update_draws_the_whole_grid_as_energy_on_grid_does():
    grid = RollingGrid(BOUNDS, 12, 4, "cpu")
    assert grid.update(bowl(1.0), version=1)
    _, _, full = energy_on_grid(bowl(1.0), BOUNDS, 12)
    torch.testing.assert_close(grid.grid, full)
    assert not grid.update(bowl(1.0), version=1)          # nothing stale: nothing to do


def test_new_weights_are_drawn_one_band_at_a_time_until_the_grid_is_theirs():
    grid = RollingGrid(BOUNDS, 12, 4, "cpu")
    grid.update(bowl(1.0), version=1)
    before = grid.grid.clone()
    changed_rows = []
    for _ in range(4):
        previous = grid.grid.clone()
        assert grid.update(bowl(2.0), version=2)
        changed_rows.append(sorted(set((grid.grid != previous).nonzero()[:, 0].tolist())))
    assert changed_rows == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert not grid.update(bowl(2.0), version=2)
    _, _, full = energy_on_grid(bowl(2.0), BOUNDS, 12)
    torch.testing.assert_close(grid.grid, full)
    assert not torch.equal(grid.grid, before)


def test_bands_must_fit_the_grid():
    with pytest.raises(ValueError):
        RollingGrid(BOUNDS, 4, 5, "cpu")
