"""Point groups and the equivariant energy: exact invariance for every element, in both modes."""
import pytest
import torch

from ebm_engine.metrics.invariance import invariance_error, relative_invariance_error
from ebm_engine.models.equivariant_ebm import EquivariantEBM, invariant_features
from ebm_engine.models.point_groups import PointGroup, cyclic, dihedral
from ebm_engine.models.simple_ebm import SimpleEBM

GROUPS = [cyclic(1), cyclic(3), cyclic(8), dihedral(1), dihedral(4), dihedral(8)]


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_groups_are_closed_orthogonal_and_of_the_right_order(group):
    mats = group.elements()
    assert mats.shape == (group.order, 2, 2)
    eye = torch.eye(2, dtype=torch.float64)
    assert torch.allclose(mats @ mats.transpose(1, 2), eye.expand_as(mats), atol=1e-14)
    for a in mats:
        for b in mats:   # every product is an element
            assert (((a @ b)[None] - mats).abs().amax(dim=(1, 2)) < 1e-12).sum() == 1
    distinct = (mats[:, None] - mats[None]).abs().amax(dim=(2, 3)) > 1e-9
    assert distinct.sum() == group.order * (group.order - 1)


@pytest.mark.parametrize("mode", ["average", "features"])
@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_invariance_error_is_at_float_precision_for_every_element(group, mode):
    torch.manual_seed(0)
    model = EquivariantEBM(group, mode=mode, hidden=32)
    x = 3 * torch.randn(500, 2)
    err32 = invariance_error(model, group, x)
    assert err32.shape == (group.order,)
    scale = float(model(x).detach().abs().max())
    assert float(err32.max()) <= 1e-6 * max(scale, 1.0)
    model64 = model.double()
    err64 = invariance_error(model64, group, x.double())
    assert float(err64.max()) <= 1e-13 * max(scale, 1.0)


def test_a_plain_energy_is_measurably_not_invariant():
    torch.manual_seed(0)
    plain = SimpleEBM(2, 32, 2)
    x = 3 * torch.randn(500, 2)
    err = invariance_error(plain, cyclic(8), x)
    assert err[0] == 0 and float(err[1:].min()) > 1e-2
    assert relative_invariance_error(plain, cyclic(8), x) > 1e-2


def test_invariance_only_to_the_group_it_was_built_for():
    torch.manual_seed(0)
    model = EquivariantEBM(cyclic(4), hidden=32)
    x = 3 * torch.randn(500, 2)
    assert float(invariance_error(model, cyclic(4), x).max()) < 1e-5
    assert float(invariance_error(model, cyclic(8), x).max()) > 1e-3     # 45° is not a symmetry of C4
    model.group = cyclic(8)
    assert float(invariance_error(model, cyclic(8), x).max()) < 1e-5


def test_features_are_invariant_and_the_average_uses_the_base_energy():
    group = dihedral(5)
    x = torch.randn(100, 2, dtype=torch.float64)
    f = invariant_features(x, group)
    for moved in group.orbit(x):
        assert torch.allclose(invariant_features(moved, group), f, atol=1e-12)
    base = SimpleEBM(2, 16, 1).double()
    model = EquivariantEBM(cyclic(2), base=base)
    assert torch.allclose(model(x), 0.5 * (base(x) + base(-x)), atol=1e-12)
    with pytest.raises(ValueError):
        PointGroup(0)
    with pytest.raises(ValueError):
        EquivariantEBM(cyclic(2), mode="nope")
