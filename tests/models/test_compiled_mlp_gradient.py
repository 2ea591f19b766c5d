"""CompiledMLPGradient: the MLP's energy and input gradient as one compiled program, equal to autograd's."""
from __future__ import annotations

import pytest
import torch

from ebm_engine.energies.base import Energy
from ebm_engine.models import compiled_mlp_gradient
from ebm_engine.models.simple_ebm import SimpleEBM
from ebm_engine.samplers import Langevin, sample


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def model(activation: str = "silu", input_dim: int = 2, depth: int = 2, seed: int = 0) -> SimpleEBM:
    torch.manual_seed(seed)
    m = SimpleEBM(input_dim, 24, depth, activation).double()
    with torch.no_grad():   # pre-activations on both sides of every kink and past softplus's threshold of 20
        for p in m.parameters():
            p.mul_(6.0)
    return m


def assert_as_autograd(m: SimpleEBM, x: torch.Tensor) -> None:
    e_ref, g_ref = Energy.energy_and_grad(m, x)
    e, g = m.energy_and_grad(x)
    torch.testing.assert_close(e, e_ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("activation", sorted(compiled_mlp_gradient.ACTIVATIONS))
def test_each_activation_gives_autograds_energy_and_gradient(activation):
    m = model(activation).use_compiled_gradient()
    assert isinstance(m._gradient, compiled_mlp_gradient.CompiledMLPGradient)
    assert_as_autograd(m, torch.randn(300, 2, generator=gen(1), dtype=torch.float64) * 2)


@pytest.mark.parametrize("input_dim, depth, activation", [(16, 3, "silu"), (2, 1, "tanh")])
def test_wide_inputs_and_other_depths(input_dim, depth, activation):
    """A first layer wider than ``NARROW_INPUT`` goes through a matrix product; depth 1 has no hidden product."""
    m = model(activation, input_dim, depth).use_compiled_gradient()
    x = torch.randn(50, input_dim, generator=gen(2), dtype=torch.float64)
    assert_as_autograd(m, x)


def test_weights_changed_in_place_are_seen_and_batch_sizes_vary():
    m = model().use_compiled_gradient()
    x = torch.randn(64, 2, generator=gen(3), dtype=torch.float64)
    assert_as_autograd(m, x)
    with torch.no_grad():   # what an optimiser step does
        for p in m.parameters():
            p.add_(0.1)
    assert_as_autograd(m, x)
    assert_as_autograd(m, x[:7])


def test_langevin_chains_are_those_of_the_eager_gradient():
    eager, compiled = model(seed=5), model(seed=5).use_compiled_gradient()
    x0 = torch.randn(32, 2, generator=gen(4), dtype=torch.float64)
    a = sample(eager, x0, Langevin(), n_steps=20, step_size=1e-3, generator=gen(6))
    b = sample(compiled, x0, Langevin(), n_steps=20, step_size=1e-3, generator=gen(6))
    torch.testing.assert_close(b.samples, a.samples, rtol=1e-9, atol=1e-9)
    eager_again = compiled.use_compiled_gradient(False)
    assert not isinstance(eager_again._gradient, compiled_mlp_gradient.CompiledMLPGradient)


def test_without_a_compiler_it_warns_once_and_uses_the_eager_pass(monkeypatch):
    def no_compiler(*_):
        def fail(*_args):
            raise RuntimeError("no C++ compiler found")
        return fail

    monkeypatch.setattr(compiled_mlp_gradient, "_program", no_compiler)
    monkeypatch.setattr(compiled_mlp_gradient, "_unavailable", [])
    m = model().use_compiled_gradient()
    x = torch.randn(10, 2, generator=gen(7), dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        assert_as_autograd(m, x)
    assert compiled_mlp_gradient._unavailable
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no second warning
        assert_as_autograd(m, x)
