"""ImageGenerator: noise to images in (0, 1), differentiable."""
import torch

from ebm_engine.models import ImageGenerator


def test_images_in_range_with_gradients():
    torch.manual_seed(0)
    net = ImageGenerator((8, 8), latent_dim=4)
    z = net.sample_latent(10, torch.Generator().manual_seed(1))
    images = net(z)
    assert z.shape == (10, 4) and images.shape == (10, 1, 8, 8)
    assert images.min() > 0 and images.max() < 1
    images.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_mnist_shape():
    net = ImageGenerator((28, 28))
    assert net(net.sample_latent(2)).shape == (2, 1, 28, 28)
