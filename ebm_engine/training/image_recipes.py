"""Recipes for training image energies by contrastive divergence: the lab's and a naive one to compare with.

- ``lab_image_config``: short-run SGLD from a replay buffer (95% old chains, 5% uniform noise),
  step size and noise scale as separate knobs, chains clamped to the data range [0, 1], an L2
  penalty on both energies, gradient clipping, and the trainer's divergence guard with rollback
  (the JEM / IGEBM recipe).
- ``naive_image_config``: the plain textbook trainer: every negative starts from
  Gaussian noise (no buffer), 10 Langevin steps of size 0.01 with the exact noise, no clamping,
  no regularisation, no clipping, Adam at 1e-4. Its samples are the same noise-initialised chain,
  clamped to [0, 1] for display and scoring.
"""
from __future__ import annotations

import math

import torch

from ebm_engine.energies.base import Energy
from ebm_engine.samplers.short_run import noise_images
from ebm_engine.training.contrastive_divergence import CDConfig, ContrastiveDivergence


def lab_image_config(**overrides) -> CDConfig:
    """The lab's CD settings for grey images in [0, 1]."""
    defaults = dict(lr=1e-3, batch_size=128, langevin_steps=20, step_size=1.0, noise_scale=0.01,
                    reinit_fraction=0.05, l2_weight=0.1, grad_clip=1.0, buffer_size=10000, clamp=(0.0, 1.0))
    return CDConfig(**{**defaults, **overrides})


def naive_image_config(**overrides) -> CDConfig:
    """The naive recipe as a ``CDConfig`` (pair it with ``init="gaussian"``)."""
    defaults = dict(lr=1e-4, batch_size=128, langevin_steps=10, step_size=0.01, noise_scale=math.sqrt(2 * 0.01),
                    reinit_fraction=1.0, l2_weight=0.0, grad_clip=None, buffer_size=128, clamp=None)
    return CDConfig(**{**defaults, **overrides})


def image_batches(images: torch.Tensor):
    """``data_fn(n, generator)`` drawing ``n`` random rows of ``images`` (with replacement)."""
    def data_fn(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        draw_on = generator.device if generator is not None else images.device
        index = torch.randint(len(images), (n,), generator=generator, device=draw_on).to(images.device)
        return images[index]
    return data_fn


def image_cd_trainer(energy: Energy, images: torch.Tensor, config: CDConfig, generator: torch.Generator | None = None,
                     init: str = "uniform") -> ContrastiveDivergence:
    """A ``ContrastiveDivergence`` trainer on ``images`` ``(N, 1, H, W)`` with noise-initialised chains."""
    shape = tuple(images.shape[1:])

    def init_fn(n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        return noise_images(n, shape, gen, images.device, init)

    return ContrastiveDivergence(energy, image_batches(images), init_fn, config, generator)
