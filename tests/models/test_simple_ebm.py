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
