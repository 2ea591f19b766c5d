"""JEM training: cross-entropy for ``p(y|x)`` plus contrastive divergence for ``p(x)``, step by step.

The loss of one iteration on a labelled mini-batch ``(x, y)`` is

    CE(f(x), y) + w · [ mean E(x) - mean E(x̃) + λ · (mean E(x)² + mean E(x̃)²) ]

with ``E(x) = -logsumexp f(x)`` and negatives ``x̃`` from SGLD (``x ← x - α∇E(x) + σξ``, the JEM
recipe's step ``α = 1`` and noise ``σ = 0.01``, clamped to the pixel range) started from a replay
buffer (95% old chains, 5% fresh uniform noise). ``w`` ramps up from 0 over the first
``warmup_steps`` iterations; ``w = 0`` trains the plain classifier (no sampling). Training images are
shifted by up to one pixel (augmentation, for both models).

JEM is known to diverge; the guards: the L2 penalty ``λ`` on both energies, gradient clipping, and a
divergence check (non-finite loss, gradients or weights, or energies beyond ``max_energy``) that
rolls the model and optimiser back to the last good checkpoint and refills the replay buffer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import param
import torch
import torch.nn.functional as F

from ebm_engine.config import POSITIVE, Config, Interval
from ebm_engine.models.jem import JEM
from ebm_engine.samplers.langevin import Langevin
from ebm_engine.samplers.mixed_precision import PRECISIONS, autocast_for
from ebm_engine.samplers.short_run import InFlightChains, noise_images
from ebm_engine.stepwise import Steps, finish
from ebm_engine.training.last_good_state import GuardedTrainer, LastGoodState, backward_clipped, host_values
from ebm_engine.training.negative_sampler import SAMPLERS, NegativeSampler
from ebm_engine.training.replay_buffer import ReplayBuffer


class JEMConfig(Config):
    """Hyper-parameters of JEM training; all but ``buffer_size`` may change between steps."""

    lr = param.Number(1e-3, **POSITIVE)
    weight_decay = param.Number(0.0, bounds=(0, None), doc="decoupled (AdamW) weight decay")
    batch_size = param.Integer(64, bounds=(1, None))
    generative_weight = param.Number(1.0, bounds=(0, None), doc="0: plain classifier (cross-entropy only)")
    warmup_steps = param.Integer(200, bounds=(0, None),
                                 doc="the generative weight ramps up linearly over these iterations")
    sgld_steps = param.Integer(20, bounds=(0, None))
    sgld_step_size = param.Number(1.0, **POSITIVE)
    sgld_noise = param.Number(0.01, bounds=(0, None))
    reinit_fraction = param.Number(0.05, bounds=(0, 1))
    buffer_size = param.Integer(5000, bounds=(1, None))
    l2_weight = param.Number(0.1, bounds=(0, None))
    grad_clip = param.Number(10.0, allow_None=True, **POSITIVE)
    max_energy = param.Number(1e3, **POSITIVE, doc="|mean energy| beyond this counts as divergence")
    pixel_range = Interval((0.0, 1.0))
    max_shift = param.Integer(1, bounds=(0, None),
                              doc="training images move by up to this many pixels (augmentation)")
    precision = param.Selector(default="fp32", objects=list(PRECISIONS),
                               doc="bf16: forward/backward of the network under bf16 autocast")
    sampler = param.Selector(default="eager", objects=list(SAMPLERS),
                             doc="captured: the SGLD step as one CUDA graph on a GPU")


@dataclass
class JEMStats:
    """What one training iteration measured."""

    step: int
    loss: float
    cross_entropy: float
    train_accuracy: float
    e_data: float
    e_neg: float
    grad_norm: float
    diverged: bool


class JEMTrainer(GuardedTrainer):
    """Step-able JEM (or plain-classifier) training on labelled rows ``(N, H·W)`` in the pixel range."""

    def __init__(self, model: JEM, images: torch.Tensor, labels: torch.Tensor, config: JEMConfig | None = None,
                 generator: torch.Generator | None = None, checkpoint_every: int = 25):
        if len(images) != len(labels) or len(images) == 0:
            raise ValueError(f"need as many labels as images (got {len(images)} and {len(labels)}), at least one")
        self.model = model
        self.images = images
        self.labels = labels
        self.config = config or JEMConfig()
        self.generator = generator
        self.buffer = ReplayBuffer(self.config.buffer_size, self.fresh_noise, generator)
        self._negative_sampler = NegativeSampler()
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=self.config.lr,
                                           weight_decay=self.config.weight_decay)
        self.step_count = 0
        self.in_flight: tuple | None = None   # ((x, y), negatives or None) of an iteration sampled in slices
        self.epoch = 0
        self._order = self._permutation()
        self._cursor = 0
        self.last_negatives = self.buffer.store[: self.config.batch_size].clone()
        self.last_good = LastGoodState([(self.model, self.optimizer)], self.step_count, checkpoint_every,
                                       after_restore=self._after_restore)

    def fresh_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` chain starts: uniform noise over the pixel range."""
        return noise_images(n, (self.images.shape[1],), generator, self.images.device,
                            data_range=self.config.pixel_range)

    def _permutation(self) -> torch.Tensor:
        device = self.generator.device if self.generator is not None else self.images.device
        return torch.randperm(len(self.images), generator=self.generator, device=device).to(self.images.device)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next mini-batch of a shuffled pass over the training rows (a new pass each epoch),
        each image shifted by up to ``max_shift`` pixels."""
        n = min(self.config.batch_size, len(self.images))
        if self._cursor + n > len(self.images):
            self._order, self._cursor = self._permutation(), 0
            self.epoch += 1
        idx = self._order[self._cursor:self._cursor + n]
        self._cursor += n
        return self.shifted(self.images[idx]), self.labels[idx]

    def resume_state(self) -> dict[str, torch.Tensor]:
        """The pass over the data (its order and position) that an exact resume continues."""
        return {"order": self._order, "cursor": torch.tensor(self._cursor), "epoch": torch.tensor(self.epoch)}

    def load_resume_state(self, state: dict[str, torch.Tensor]) -> list[str]:
        if state.get("order") is None or len(state["order"]) != len(self.images):
            return []
        self._order = state["order"].to(self._order)
        self._cursor, self.epoch = int(state["cursor"]), int(state["epoch"])
        return ["epoch position"]

    def shifted(self, x: torch.Tensor) -> torch.Tensor:
        """Each image moved by a random whole-pixel offset in ``[-max_shift, max_shift]²``; the
        pixels that come in are background (the low end of the pixel range)."""
        s = self.config.max_shift
        if s == 0:
            return x
        h, w = self.model.shape
        device = self.generator.device if self.generator is not None else x.device
        offsets = torch.randint(-s, s + 1, (len(x), 2), generator=self.generator, device=device).to(x.device)
        padded = torch.nn.functional.pad(x.reshape(-1, 1, h, w), (s, s, s, s), value=self.config.pixel_range[0])
        rows = (torch.arange(h, device=x.device) + s)[None, :] - offsets[:, :1]      # (n, h)
        cols = (torch.arange(w, device=x.device) + s)[None, :] - offsets[:, 1:]      # (n, w)
        batch = torch.arange(len(x), device=x.device)[:, None, None]
        return padded[batch, 0, rows[:, :, None], cols[:, None, :]].reshape(len(x), -1)

    def sgld(self, energy, x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``steps`` SGLD steps on ``energy`` from ``x`` with the config's step and noise; weights frozen.
        The noise comes from ``generator`` when given, else from the training stream."""
        cfg = self.config
        kernel, energy = self._negative_sampler.get(energy, cfg.sgld_noise, cfg.pixel_range, cfg.precision,
                                                    cfg.sampler)
        return frozen_sgld(self.model, energy, x, steps, cfg, generator or self.generator, kernel)

    def negative_steps(self) -> Steps:
        """This iteration's SGLD negatives, one step at a time (a generator, see ``ebm_engine.stepwise``): the
        iteration starts when none is in flight (its mini-batch, and its negatives from the buffer when the
        generative term is on). The draws are those of one uninterrupted iteration."""
        cfg = self.config
        if self.in_flight is None:
            batch = self.next_batch()
            chains = None
            if self.generative_weight_now() > 0:
                x, idx = self.buffer.sample(cfg.batch_size, cfg.reinit_fraction, self.generator)
                kernel, energy = self._negative_sampler.get(self.model, cfg.sgld_noise, cfg.pixel_range,
                                                            cfg.precision, cfg.sampler)
                chains = InFlightChains(kernel, energy, self.model, x, idx, eval_mode=True)
            self.in_flight = (batch, chains)
        chains = self.in_flight[1]
        if chains is not None:
            yield from chains.advance(cfg.sgld_steps, cfg.sgld_step_size, 1.0, self.generator)

    def generative_weight_now(self) -> float:
        """The generative term's weight at this iteration: ramped up over ``warmup_steps`` so the
        classifier finds its features before SGLD negatives pull on them."""
        cfg = self.config
        if cfg.warmup_steps == 0:
            return cfg.generative_weight
        return cfg.generative_weight * min(1.0, (self.step_count + 1) / cfg.warmup_steps)

    def step(self) -> JEMStats:
        """One iteration: cross-entropy (+ the generative term), a guarded optimiser step."""
        cfg = self.config
        finish(self.negative_steps())
        (x, y), chains = self.in_flight
        self.in_flight = None
        self.model.train()
        with autocast_for(x.device, cfg.precision):   # losses are taken in float32
            logits = self.model.logits(x).float()
            e_neg = self.model.energy(chains.x).float() if chains is not None else None
        ce = loss = F.cross_entropy(logits, y)
        e_pos = -torch.logsumexp(logits, dim=1)
        if chains is not None:
            self.buffer.update(chains.idx, chains.x)
            gen = e_pos.mean() - e_neg.mean() + cfg.l2_weight * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
            loss = ce + self.generative_weight_now() * gen
        else:
            e_neg = e_pos.new_zeros(1)
        norm = backward_clipped(loss, self.optimizer, self.model, cfg.grad_clip)
        accuracy = (logits.detach().argmax(dim=1) == y).float().mean()
        # one device-to-host read for every figure of the step
        loss_value, ce_value, e_data, e_model, grad_norm, accuracy = host_values(
            loss, ce, e_pos.mean(), e_neg.mean(), norm, accuracy)
        finite = (math.isfinite(loss_value) and math.isfinite(grad_norm)
                  and abs(e_data) <= cfg.max_energy and abs(e_model) <= cfg.max_energy)
        diverged = self.finish_step(self.optimizer, finite, self.model)
        if chains is not None:
            self.last_negatives = chains.x.detach()
        return JEMStats(self.step_count, loss_value, ce_value, accuracy, e_data, e_model, grad_norm, diverged)

    def _after_restore(self) -> None:
        """Live settings back on the optimiser; the replay buffer starts afresh."""
        self.in_flight = None
        self.apply_settings()
        self.buffer.reset(torch.ones(self.buffer.capacity, dtype=torch.bool, device=self.buffer.store.device),
                          self.generator)


def frozen_sgld(model: torch.nn.Module, energy, x: torch.Tensor, steps: int, config: JEMConfig,
                generator: torch.Generator | None, kernel=None) -> torch.Tensor:
    """``steps`` SGLD steps on ``energy`` from ``x`` (step, noise and pixel clamp from ``config``; the
    kernel a plain ``Langevin`` unless given) with ``model``'s weights frozen and in eval mode for the
    duration; both are restored afterwards."""
    kernel = kernel or Langevin(noise_scale=config.sgld_noise, clamp=config.pixel_range)
    chains = InFlightChains(kernel, energy, model, x, eval_mode=True)
    finish(chains.advance(steps, config.sgld_step_size, 1.0, generator))
    return chains.x
