"""ImageGenerator: maps Gaussian noise to grey images in [0, 1], the proposal network of an EBM + generator."""
from __future__ import annotations

import torch
from torch import nn


class ImageGenerator(nn.Module):
    """``G(z)``: an MLP from ``latent_dim`` noise to ``(batch, 1, H, W)`` images with pixels in (0, 1)."""

    def __init__(self, image_shape: tuple[int, int] = (8, 8), latent_dim: int = 16, hidden: int = 256):
        super().__init__()
        if latent_dim < 1 or hidden < 1 or min(image_shape) < 1:
            raise ValueError(f"latent_dim, hidden and the image size must be >= 1, got {latent_dim}, "
                             f"{hidden}, {image_shape}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = latent_dim
        n_pixels = self.image_shape[0] * self.image_shape[1]
        self.network = nn.Sequential(
            nn.Linear(latent_dim, hidden // 2), nn.SiLU(),
            nn.Linear(hidden // 2, hidden), nn.SiLU(),
            nn.Linear(hidden, n_pixels))

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent codes ``z ~ N(0, I)`` on the generator's device."""
        device = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.network(z)).reshape(z.shape[0], 1, *self.image_shape)
