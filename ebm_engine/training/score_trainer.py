"""A step-able score-matching trainer: denoising, sliced or exact, at one noise level or a ladder.

With a plain energy, denoising score matching uses the noise level ``sigma``; sliced and exact
score matching fit the clean data. With a ``NoiseConditionalEBM`` every sample draws a level of
the model's ladder, is perturbed by it and any of the three objectives fits the score of the
perturbed data at that level, weighted by σ² (Song & Ermon 2019, who use denoising or sliced
score matching this way). Like ``ContrastiveDivergence``, a non-finite step is rolled back and
reported as ``diverged``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import param
import torch

from ebm_engine.config import POSITIVE, Config
from ebm_engine.energies.base import Energy
from ebm_engine.models.noise_conditional_ebm import NoiseConditionalEBM
from ebm_engine.training.finite import parameters_finite
from ebm_engine.training.last_good_state import LastGoodState
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


class ScoreMatching:
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
                                       after_restore=self._after_restore)

    @property
    def conditional(self) -> bool:
        return isinstance(self.energy, NoiseConditionalEBM)

    def update_config(self, **changes) -> None:
        """Change hyper-parameters between steps (validated; unknown names raise)."""
        candidate = self.config.replace(**changes)
        self.config = candidate
        for group in self.optimizer.param_groups:
            group["lr"] = candidate.lr
            group["betas"] = tuple(candidate.betas)

    def objective(self, x: torch.Tensor) -> torch.Tensor:
        """The configured score-matching loss on a batch (mean over the batch)."""
        cfg = self.config
        g = self.generator
        if not self.conditional:
            if cfg.method == "denoising":
                return denoising_score_matching_loss(self.energy, x, cfg.sigma, g)
            if cfg.method == "sliced":
                return sliced_score_matching_loss(self.energy, x, cfg.n_projections, cfg.projection, generator=g)
            return exact_score_matching_loss(self.energy, x)
        ladder = torch.tensor(self.energy.sigmas, dtype=x.dtype, device=x.device)
        pick = torch.randint(len(ladder), (x.shape[0],), generator=g,
                             device=g.device if g is not None else x.device).to(x.device)
        sigma = ladder[pick]

        def energy(y: torch.Tensor) -> torch.Tensor:
            return self.energy.energy_at(y, sigma)

        if cfg.method == "denoising":
            return denoising_score_matching_loss(energy, x, sigma, g)
        device = g.device if g is not None else x.device
        noisy = x + sigma.reshape(-1, *([1] * (x.dim() - 1))) * torch.randn(
            x.shape, generator=g, device=device, dtype=x.dtype).to(x.device)
        weight = sigma ** 2
        if cfg.method == "sliced":
            per_sample = sliced_score_matching_loss(energy, noisy, cfg.n_projections, cfg.projection,
                                                    generator=g, reduction="none")
        else:
            per_sample = exact_score_matching_loss(energy, noisy, reduction="none")
        return (weight * per_sample).mean()

    def step(self) -> ScoreMatchingStats:
        """One training iteration with a divergence guard."""
        cfg = self.config
        self.energy.train()
        x = self.data_fn(cfg.batch_size, self.generator)
        loss = self.objective(x)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.energy.parameters() if p.grad is not None]
        max_norm = cfg.grad_clip if cfg.grad_clip is not None else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        diverged = not (bool(torch.isfinite(loss)) and grad_norm == grad_norm and grad_norm != float("inf"))
        if not diverged:
            self.optimizer.step()
            diverged = not parameters_finite(self.energy)
        self.step_count += 1
        diverged = self.last_good.settle(self.step_count, diverged)
        return ScoreMatchingStats(self.step_count, float(loss.detach()), grad_norm, diverged)

    @property
    def divergences(self) -> int:
        return self.last_good.divergences

    def restore_last_good(self) -> None:
        """Back to the last good weights and optimiser moments (after a failed step)."""
        self.last_good.restore()

    def _after_restore(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr
            group["betas"] = tuple(self.config.betas)

    @property
    def last_good_step(self) -> int:
        return self.last_good.step
