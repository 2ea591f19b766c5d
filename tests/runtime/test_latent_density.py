"""The rolling latent density: a fill is the common-noise marginal estimate; a roll renews one group of draws."""
import copy
import math

import pytest
import torch

from ebm_engine.metrics.partition import energy_on_grid, grid_points
from ebm_engine.models.latent_ebm import LatentEBM
from ebm_engine.runtime.views.latent_density import RollingLatentDensity

BOUNDS = ((-3.0, 3.0), (-2.0, 4.0))
RES, K, GROUPS = 12, 16, 4


@pytest.fixture
def models():
    torch.manual_seed(3)
    a = LatentEBM(2, 1, hidden=32, encoder_hidden=16).double()
    b = copy.deepcopy(a)
    with torch.no_grad():   # b: the same model a few training steps later
        for p in b.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return a, b


def test_a_fill_is_the_marginal_estimate_with_common_noise(models):
    a, _ = models
    density = RollingLatentDensity(BOUNDS, RES, K, GROUPS, torch.Generator().manual_seed(5))
    density.fill(a)
    _, _, expected = energy_on_grid(a.marginal(K, torch.Generator().manual_seed(5), common_noise=True), BOUNDS, RES)
    torch.testing.assert_close(density.energy_grid(), expected, rtol=1e-12, atol=1e-12)


def test_each_roll_renews_the_oldest_group_at_the_current_weights(models):
    a, b = models
    generator = torch.Generator().manual_seed(7)
    density = RollingLatentDensity(BOUNDS, RES, K, GROUPS, generator)
    density.fill(a)
    filled = density.partial.clone()
    states = []
    for i in range(GROUPS):
        states.append(generator.get_state())
        density.roll(b)
        if i == 0:   # only the oldest group was drawn again
            assert not torch.equal(density.partial[0], filled[0])
            torch.testing.assert_close(density.partial[1:], filled[1:], rtol=0, atol=0)
    # after a full round every group holds draws at b's weights: the estimate from b's draws alone
    _, _, points = grid_points(BOUNDS, RES, dtype=torch.float64)
    log_w = []
    for state in states:
        replay = torch.Generator()
        replay.set_state(state)
        with torch.no_grad():
            log_w.append(b.log_importance_weights(points, K // GROUPS, replay, common_noise=True))
    expected = -(torch.logsumexp(torch.cat(log_w), dim=0) - math.log(K)).reshape(RES, RES)
    torch.testing.assert_close(density.energy_grid(), expected, rtol=1e-12, atol=1e-12)


def test_a_roll_moves_every_cell_at_once(models):
    """No bands: one roll at new weights changes the whole grid, not a strip of it."""
    a, b = models
    density = RollingLatentDensity(BOUNDS, RES, K, GROUPS, torch.Generator().manual_seed(1))
    density.fill(a)
    before = density.energy_grid()
    density.roll(b)
    assert bool((density.energy_grid() != before).all())


def test_a_roll_before_any_fill_fills(models):
    a, _ = models
    rolled = RollingLatentDensity(BOUNDS, RES, K, GROUPS, torch.Generator().manual_seed(2))
    rolled.roll(a)
    filled = RollingLatentDensity(BOUNDS, RES, K, GROUPS, torch.Generator().manual_seed(2))
    filled.fill(a)
    torch.testing.assert_close(rolled.energy_grid(), filled.energy_grid(), rtol=0, atol=0)


@pytest.mark.parametrize("n_samples, groups", [(16, 3), (4, 8), (16, 0)])
def test_draws_must_split_into_equal_groups(n_samples, groups):
    with pytest.raises(ValueError, match="equal groups"):
        RollingLatentDensity(BOUNDS, RES, n_samples, groups)
    with pytest.raises(RuntimeError, match="fill"):
        RollingLatentDensity(BOUNDS, RES, 16, 4).energy_grid()


def test_it_is_behind_until_every_group_has_the_weights(models):
    a, b = models
    density = RollingLatentDensity(BOUNDS, RES, K, GROUPS, torch.Generator().manual_seed(4))
    assert density.behind("a")
    density.fill(a, "a")
    assert not density.behind("a") and density.behind("b")
    for _ in range(GROUPS - 1):
        density.roll(b, "b")
        assert density.behind("b")
    density.roll(b, "b")
    assert not density.behind("b") and density.rolls == GROUPS
