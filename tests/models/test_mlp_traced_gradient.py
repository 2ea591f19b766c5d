"""The MLP's energy and input gradient as traceable tensor code (``fused_energy_and_grad``) equal autograd's."""
from __future__ import annotations

import pytest
import torch

from ebm_engine.energies.base import Energy
from ebm_engine.models import mlp_traced_gradient
from ebm_engine.models.simple_ebm import SimpleEBM


def model(activation: str = "silu", input_dim: int = 2, depth: int = 2, seed: int = 0) -> SimpleEBM:
    torch.manual_seed(seed)
    m = SimpleEBM(input_dim, 24, depth, activation).double()
    with torch.no_grad():   # pre-activations on both sides of every kink and past softplus's threshold of 20
        for p in m.parameters():
            p.mul_(6.0)
    return m


def assert_as_autograd(m: SimpleEBM, x: torch.Tensor) -> None:
    e_ref, g_ref = Energy.energy_and_grad(m, x)
    e, g = m.traceable_energy_and_grad(x)
    assert g.shape == x.shape
    torch.testing.assert_close(e, e_ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("activation", sorted(mlp_traced_gradient.ACTIVATIONS))
def test_each_activation_gives_autograds_energy_and_gradient(activation):
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    assert_as_autograd(model(activation), x)


@pytest.mark.parametrize("shape, depth, activation", [((16,), 3, "silu"), ((2,), 1, "tanh"), ((1, 3, 3), 2, "elu")])
def test_wide_inputs_image_shapes_and_other_depths(shape, depth, activation):
    """A first layer wider than ``NARROW_INPUT`` goes through a matrix product; depth 1 has no hidden product."""
    n_in = int(torch.tensor(shape).prod())
    x = torch.randn(50, *shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert_as_autograd(model(activation, n_in, depth), x)


def test_a_subclass_with_another_energy_is_differentiated_by_autograd():
    class Shifted(SimpleEBM):
        def energy(self, x):
            return super().energy(x) + (x * x).sum(1)

    torch.manual_seed(0)
    m = Shifted(2, 8, 1).double()
    x = torch.randn(20, 2, dtype=torch.float64)
    torch.testing.assert_close(m.traceable_energy_and_grad(x)[1], Energy.energy_and_grad(m, x)[1])
