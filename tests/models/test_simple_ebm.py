"""SimpleEBM: an MLP energy with configurable width, depth and activation."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ebm_engine.energies.base import Energy
from ebm_engine.models.simple_ebm import ACTIVATIONS, SimpleEBM


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linears(model: SimpleEBM) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_output_shape_and_type():
    model = SimpleEBM()
    assert isinstance(model, Energy)
    e = model(torch.randn(13, 2, generator=gen(0)))
    assert e.shape == (13,) and torch.isfinite(e).all()
    # A single sample still gives a (1,) batch, not a scalar.
    assert model(torch.zeros(1, 2)).shape == (1,)


def test_event_shape_is_flattened():
    model = SimpleEBM(input_dim=16, hidden=8)
    x = torch.randn(5, 1, 4, 4, generator=gen(1))
    torch.testing.assert_close(model(x), model(x.reshape(5, 16)))


def test_config_is_stored():
    model = SimpleEBM(input_dim=3, hidden=17, depth=4, activation="tanh")
    assert model.config == {"input_dim": 3, "hidden": 17, "depth": 4, "activation": "tanh"}
    # The config rebuilds an identical architecture, so weights can be loaded into it.
    clone = SimpleEBM(**model.config)
    clone.load_state_dict(model.state_dict())
    x = torch.randn(6, 3, generator=gen(2))
    torch.testing.assert_close(clone(x), model(x))


@pytest.mark.parametrize("input_dim,hidden,depth", [(2, 128, 2), (5, 7, 1), (2, 32, 3)])
def test_width_and_depth(input_dim, hidden, depth):
    model = SimpleEBM(input_dim=input_dim, hidden=hidden, depth=depth)
    layers = linears(model)
    assert len(layers) == depth + 1
    assert layers[0].in_features == input_dim
    assert all(layer.out_features == hidden for layer in layers[:-1])
    assert all(layer.in_features == hidden for layer in layers[1:])
    assert layers[-1].out_features == 1


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_is_used(name):
    model = SimpleEBM(hidden=8, depth=3, activation=name)
    expected = type(ACTIVATIONS[name]())
    acts = [m for m in model.network if not isinstance(m, nn.Linear)]
    assert len(acts) == 3 and all(type(a) is expected for a in acts)


def test_activation_changes_the_function():
    x = torch.randn(20, 2, generator=gen(3))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        silu = SimpleEBM(hidden=16, activation="silu")
    relu = SimpleEBM(hidden=16, activation="relu")
    relu.load_state_dict(silu.state_dict())  # same weights, different nonlinearity
    assert not torch.allclose(silu(x), relu(x))


@pytest.mark.parametrize("kwargs", [
    {"input_dim": 0}, {"hidden": 0}, {"depth": 0}, {"depth": -1},
    {"activation": "gelu-ish"}, {"activation": "SiLU"},
])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        SimpleEBM(**kwargs)


def test_gradients_flow_to_every_parameter():
    model = SimpleEBM(hidden=16, depth=3)
    x = torch.randn(32, 2, generator=gen(4))
    model(x).pow(2).mean().backward()
    params = list(model.named_parameters())
    assert len(params) == 2 * 4  # weight and bias of 4 Linear layers
    for name, p in params:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_input_gradient_is_smooth_and_finite():
    model = SimpleEBM()
    x = torch.randn(10, 2, generator=gen(5))
    e, g = model.energy_and_grad(x)
    assert g.shape == (10, 2) and torch.isfinite(g).all()
    # Central differences agree with autograd (float64 to make the comparison tight).
    model = model.double()
    x = x.double()
    _, g = model.energy_and_grad(x)
    h = 1e-6
    for k in range(2):
        d = torch.zeros_like(x)
        d[:, k] = h
        fd = (model(x + d) - model(x - d)) / (2 * h)
        torch.testing.assert_close(g[:, k], fd.detach(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("depth", [1, 3])
def test_hand_written_gradient_equals_autograd(activation, depth):
    torch.manual_seed(0)
    model = SimpleEBM(6, 17, depth, activation).double()
    x = torch.randn(9, 2, 3, dtype=torch.float64) * 2       # any event shape, flattened inside
    e_ref, g_ref = Energy.energy_and_grad(model, x)         # the base class: autograd
    e, g = model.energy_and_grad(x)
    assert g.shape == x.shape and not g.requires_grad and not e.requires_grad
    assert torch.allclose(e, e_ref, atol=1e-12) and torch.allclose(g, g_ref, atol=1e-12)


def test_hand_written_gradient_matches_finite_differences():
    torch.manual_seed(1)
    model = SimpleEBM(2, 32, 2, "silu").double()
    x = torch.randn(5, 2, dtype=torch.float64)
    _, g = model.energy_and_grad(x)
    h = 1e-6
    for i in range(2):
        step = torch.zeros_like(x)
        step[:, i] = h
        fd = (model(x + step) - model(x - step)) / (2 * h)
        assert torch.allclose(g[:, i], fd.detach(), atol=1e-7)


def test_a_subclass_with_its_own_energy_falls_back_to_autograd():
    class Shifted(SimpleEBM):
        def energy(self, x):
            return super().energy(x) + (x ** 2).sum(dim=1)

    torch.manual_seed(2)
    model = Shifted(2, 8, 1).double()
    x = torch.randn(4, 2, dtype=torch.float64)
    _, g = model.energy_and_grad(x)
    assert torch.allclose(g, Energy.energy_and_grad(model, x)[1], atol=1e-12)


def test_copies_differentiate_their_own_weights():
    import copy
    import pickle

    torch.manual_seed(3)
    model = SimpleEBM(2, 16, 2)
    x = torch.randn(7, 2)
    _, g = model.energy_and_grad(x)
    twin = copy.deepcopy(model)
    restored = pickle.loads(pickle.dumps(model))
    with torch.no_grad():
        twin.network[0].weight.mul_(2.0)          # an in-place change, as an optimiser makes
    _, g_twin = twin.energy_and_grad(x)
    assert torch.allclose(g_twin, Energy.energy_and_grad(twin, x)[1], atol=1e-6)
    assert not torch.allclose(g_twin, g)
    assert torch.equal(model.energy_and_grad(x)[1], g) and torch.equal(restored.energy_and_grad(x)[1], g)


def test_gradient_follows_optimiser_steps_and_batch_sizes():
    torch.manual_seed(4)
    model = SimpleEBM(2, 16, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for n in (5, 9, 5):
        x = torch.randn(n, 2)
        assert torch.allclose(model.energy_and_grad(x)[1], Energy.energy_and_grad(model, x)[1], atol=1e-6)
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
