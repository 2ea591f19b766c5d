"""ConvEBM: shapes, gradients, independence of the chains in a batch, and the checkpointed mode."""
import pytest
import torch

from ebm_engine.models import ConvEBM


def grads(model, x):
    """Energies, their input gradient and every weight gradient of ``sum(E)``."""
    x = x.clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    e = model(x)
    e.pow(2).sum().backward()
    return e.detach(), x.grad.detach(), [p.grad.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("activation", ["swish", "leaky_relu"])
def test_energy_shapes_for_every_image_layout(activation):
    torch.manual_seed(0)
    model = ConvEBM((8, 8), activation=activation)
    x = torch.rand(5, 1, 8, 8)
    e = model(x)
    assert e.shape == (5,) and torch.isfinite(e).all()
    torch.testing.assert_close(model(x.reshape(5, 8, 8)), e)
    torch.testing.assert_close(model(x.reshape(5, 64)), e)


def test_mnist_sized_images_and_input_gradients():
    torch.manual_seed(0)
    model = ConvEBM((28, 28), width=8, spectral_norm=True)
    x = torch.rand(3, 1, 28, 28)
    e, g = model.energy_and_grad(x)
    assert e.shape == (3,) and g.shape == x.shape and torch.isfinite(g).all() and g.abs().sum() > 0
    _, _, weight_grads = grads(model, x)
    assert all(torch.isfinite(w).all() for w in weight_grads) and any(w.abs().sum() > 0 for w in weight_grads)


def test_chains_do_not_interact():
    """No batch norm: an image's energy is the same alone and inside any batch."""
    torch.manual_seed(0)
    model = ConvEBM((8, 8), spectral_norm=True).eval()
    x = torch.rand(6, 1, 8, 8)
    together = model(x)
    alone = torch.cat([model(x[i:i + 1]) for i in range(6)])
    torch.testing.assert_close(together, alone)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_checkpointed_and_plain_give_the_same_energies_and_gradients(spectral_norm):
    torch.manual_seed(0)
    plain = ConvEBM((16, 16), width=8, depth=3, spectral_norm=spectral_norm)
    checkpointed = ConvEBM((16, 16), width=8, depth=3, spectral_norm=spectral_norm, checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    assert len(checkpointed.segments()) > 1
    x = torch.rand(4, 1, 16, 16)
    e1, gx1, gw1 = grads(plain, x)        # training mode: spectral norm runs its power iteration
    e2, gx2, gw2 = grads(checkpointed, x)
    torch.testing.assert_close(e2, e1)
    torch.testing.assert_close(gx2, gx1)
    for a, b in zip(gw2, gw1):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(checkpointed.energy_and_grad(x)[1], plain.energy_and_grad(x)[1])


def test_checkpointing_keeps_fewer_tensors_for_backward():
    torch.manual_seed(0)
    sizes = {}
    for flag in (False, True):
        model = ConvEBM((16, 16), width=8, depth=4, checkpointing=flag)
        kept = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t.numel()) or t, lambda t: t):
            model(torch.rand(8, 1, 16, 16, requires_grad=True))
        sizes[flag] = sum(kept)
    assert sizes[True] < 0.5 * sizes[False]


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="activation"):
        ConvEBM(activation="relu6")
    with pytest.raises(ValueError):
        ConvEBM((1, 8))


@pytest.mark.parametrize("shape, width", [((8, 8), 32), ((28, 28), 16)])
def test_channels_last_images_give_the_same_energies_and_gradients(monkeypatch, shape, width):
    """On the CPU the images go to the convolutions channels-last (faster); energies, the input
    gradient and the weight gradients are those of the plain layout, bit for bit."""
    torch.manual_seed(0)
    model = ConvEBM(shape, width=width)
    assert model.as_images(torch.rand(3, shape[0] * shape[1])).is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(16, shape[0] * shape[1])
    fast = grads(model, x)
    monkeypatch.setattr("ebm_engine.models.conv_ebm.conv_layout", lambda images: images)
    plain = grads(model, x)
    assert torch.equal(fast[0], plain[0]) and torch.equal(fast[1], plain[1])
    assert all(torch.equal(a, b) for a, b in zip(fast[2], plain[2]))
