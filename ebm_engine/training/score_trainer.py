"""A step-able score-matching trainer: denoising, sliced or exact, at one noise level or a ladder.

With a plain energy, denoising score matching uses the noise level ``sigma``; sliced and exact
score matching fit the clean data. With a ``NoiseConditionalEBM`` every sample draws a level of
the model's ladder, is perturbed by it and any of the three objectives fits the score of the
perturbed data at that level, weighted by σ² (Song & Ermon 2019, who use denoising or sliced
score matching this way). Like ``ContrastiveDivergence``, a non-finite step is rolled back and
reported as ``diverged``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import param
import torch

from ebm_engine.config import POSITIVE, Config
from ebm_engine.energies.base import Energy
from ebm_engine.models.noise_conditional_ebm import NoiseConditionalEBM
from ebm_engine.samplers.state import randn_on
from ebm_engine.training.last_good_state import GuardedTrainer, LastGoodState, backward_clipped
from ebm_engine.training.score_matching import (PROJECTIONS, denoising_score_matching_loss,
                                                exact_score_matching_loss, sliced_score_matching_loss)

METHODS = ("denoising", "sliced", "exact")


class ScoreMatchingConfig(Config):
    """Hyper-parameters of score matching; all may change between steps."""

    method = param.Selector(default="denoising", objects=list(METHODS))
    sigma = param.Number(0.1, **POSITIVE, doc="noise level of denoising SM with a plain energy")
    lr = param.Number(3e-3, **POSITIVE)
    batch_size = param.Integer(256, bounds=(1, None))
    n_projections = param.Integer(1, bounds=(1, None))
    projection = param.Selector(default="rademacher", objects=list(PROJECTIONS))
    grad_clip = param.Number(1.0, allow_None=True, **POSITIVE)
    betas = param.Range((0.9, 0.999), bounds=(0, 1), inclusive_bounds=(True, False), doc="Adam's, each in [0, 1)")


@dataclass
class ScoreMatchingStats:
    """What one training iteration measured."""

    step: int
    loss: float
    grad_norm: float
    diverged: bool


class ScoreMatching(GuardedTrainer):
    """Step-able score-matching trainer; ``data_fn(n, generator)`` draws a mini-batch."""

    def __init__(self, energy: Energy, data_fn: Callable[[int, torch.Generator | None], torch.Tensor],
                 config: ScoreMatchingConfig | None = None, generator: torch.Generator | None = None,
                 checkpoint_every: int = 25):
        self.energy = energy
        self.data_fn = data_fn
        self.config = config or ScoreMatchingConfig()
        self.generator = generator
        self.optimizer = torch.optim.Adam(energy.parameters(), lr=self.config.lr, betas=self.config.betas)
        self.step_count = 0
        self.last_good = LastGoodState([(self.energy, self.optimizer)], self.step_count, checkpoint_every,
                                       after_restore=self.apply_settings)

    def objective(self, x: torch.Tensor) -> torch.Tensor:
        """The configured score-matching loss on a batch (mean over the batch)."""
        cfg, g = self.config, self.generator
        energy, sigma, weight = self.energy, cfg.sigma, 1.0
        conditional = isinstance(self.energy, NoiseConditionalEBM)
        if conditional:   # one level of the ladder per sample
            ladder = torch.tensor(self.energy.sigmas, dtype=x.dtype, device=x.device)
            sigma = ladder[torch.randint(len(ladder), (x.shape[0],), generator=g,
                                         device=g.device if g is not None else x.device).to(x.device)]
            energy = functools.partial(self.energy.energy_at, sigma=sigma)
        if cfg.method == "denoising":
            return denoising_score_matching_loss(energy, x, sigma, g)
        if conditional:   # the score of the data perturbed at each sample's level, weighted by σ²
            x, weight = x + sigma.reshape(-1, *([1] * (x.dim() - 1))) * randn_on(x.shape, x, g), sigma ** 2
        if cfg.method == "sliced":
            per_sample = sliced_score_matching_loss(energy, x, cfg.n_projections, cfg.projection, generator=g,
                                                    reduction="none")
        else:
            per_sample = exact_score_matching_loss(energy, x, reduction="none")
        return (weight * per_sample).mean()

    def step(self) -> ScoreMatchingStats:
        """One training iteration with a divergence guard."""
        cfg = self.config
        self.energy.train()
        x = self.data_fn(cfg.batch_size, self.generator)
        loss = self.objective(x)
        grad_norm = float(backward_clipped(loss, self.optimizer, self.energy, cfg.grad_clip))
        diverged = self.finish_step(self.optimizer, bool(torch.isfinite(loss)) and math.isfinite(grad_norm),
                                    self.energy)
        return ScoreMatchingStats(self.step_count, float(loss.detach()), grad_norm, diverged)
