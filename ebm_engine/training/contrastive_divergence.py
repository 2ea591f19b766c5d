"""Contrastive-divergence training of an energy with persistent Langevin chains.

The maximum-likelihood gradient is ``E_data[∇θE] - E_model[∇θE]``; the model expectation is
estimated with short Langevin runs started from a replay buffer (about 95% old chains, 5% fresh
noise), and a small L2 penalty on both energies keeps them from drifting. Each ``step()`` is one
training iteration and can be called with new knob values at any time. An iteration draws its
chains and its data batch when it starts, so while its chains move ``provisional()`` tells what
the iteration would measure if they stopped now.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import param
import torch

from ebm_engine.config import POSITIVE, Config, Interval
from ebm_engine.energies.base import Energy
from ebm_engine.samplers.mixed_precision import PRECISIONS, autocast_for
from ebm_engine.samplers.short_run import InFlightChains
from ebm_engine.stepwise import Steps, finish
from ebm_engine.training.last_good_state import GuardedTrainer, LastGoodState, backward_clipped, host_values
from ebm_engine.training.negative_sampler import SAMPLERS, NegativeSampler
from ebm_engine.training.replay_buffer import InitFn, ReplayBuffer


class CDConfig(Config):
    """Hyper-parameters of contrastive divergence; all may change between steps."""

    lr = param.Number(3e-3, **POSITIVE)
    batch_size = param.Integer(256, bounds=(1, None))
    langevin_steps = param.Integer(10, bounds=(0, None))
    step_size = param.Number(0.02, **POSITIVE)
    noise_scale = param.Number(None, bounds=(0, None), doc="None: the exact sqrt(2·step_size)")
    reinit_fraction = param.Number(0.05, bounds=(0, 1))
    l2_weight = param.Number(0.1, bounds=(0, None))
    loss = param.Selector(default="cd", objects=["cd", "hinge"])
    hinge_margin = param.Number(1.0)
    grad_clip = param.Number(1.0, allow_None=True, **POSITIVE)
    buffer_size = param.Integer(10000, bounds=(1, None))
    sample_temperature = param.Number(1.0, **POSITIVE)
    max_chain_norm = param.Number(None, **POSITIVE, doc="chains farther out are re-initialised")
    clamp = Interval(None, allow_None=True, doc="keep chains in the data range (images: (0, 1))")
    betas = param.Range((0.9, 0.999), bounds=(0, 1), inclusive_bounds=(True, False), doc="Adam's, each in [0, 1)")
    precision = param.Selector(default="fp32", objects=list(PRECISIONS),
                               doc="bf16: energy forward/backward under bf16 autocast")
    sampler = param.Selector(default="eager", objects=list(SAMPLERS),
                             doc="captured: the Langevin step as one CUDA graph on a GPU")


@dataclass
class CDStats:
    """What one training iteration measured."""

    step: int
    loss: float
    e_data: float
    e_neg: float
    grad_norm: float
    diverged: bool
    chains_reset: int


class ContrastiveDivergence(GuardedTrainer):
    """A step-able PCD trainer: ``data_fn(n, generator)`` draws a mini-batch of data, ``init_fn(n, generator)``
    fresh chain starts (noise). A step with a non-finite loss or weights is rolled back and reported as
    ``diverged``."""

    def __init__(self, energy: Energy, data_fn: Callable[[int, torch.Generator | None], torch.Tensor],
                 init_fn: InitFn, config: CDConfig | None = None, generator: torch.Generator | None = None,
                 checkpoint_every: int = 25):
        self.energy = energy
        self.data_fn = data_fn
        self.config = config or CDConfig()
        self.generator = generator
        self.buffer = ReplayBuffer(self.config.buffer_size, init_fn, generator)
        self._negative_sampler = NegativeSampler()
        self.optimizer = torch.optim.Adam(energy.parameters(), lr=self.config.lr, betas=self.config.betas)
        self.step_count = 0
        self.in_flight: InFlightChains | None = None   # this iteration's negatives, while sampled in slices
        self.positive: torch.Tensor | None = None      # this iteration's data batch, drawn with its chains
        self._positive_energy: torch.Tensor | None = None
        self.last_negatives = self.buffer.store[: self.config.batch_size].clone()
        self.last_good = LastGoodState([(self.energy, self.optimizer)], self.step_count, checkpoint_every,
                                       after_restore=self._after_restore)

    def negative_steps(self) -> Steps:
        """This iteration's negatives, one Langevin step at a time (a generator, see ``ebm_engine.stepwise``):
        drawn from the buffer, with the iteration's data batch, when none are in flight. Step size and
        temperature are read when the steps are taken up, so a knob change reaches chains in flight."""
        cfg = self.config
        if self.in_flight is None:
            x, idx = self.buffer.sample(cfg.batch_size, cfg.reinit_fraction, self.generator)
            kernel, energy = self._negative_sampler.get(self.energy, cfg.noise_scale, cfg.clamp, cfg.precision,
                                                        cfg.sampler)
            self.in_flight = InFlightChains(kernel, energy, self.energy, x, idx)
            self.positive, self._positive_energy = self.data_fn(cfg.batch_size, self.generator), None
        yield from self.in_flight.advance(cfg.langevin_steps, cfg.step_size, cfg.sample_temperature, self.generator)

    def sample_negatives(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Evolve a batch of buffer chains by Langevin (continuing those in flight); positions and buffer indices."""
        finish(self.negative_steps())
        chains, self.in_flight = self.in_flight, None
        return chains.x, chains.idx

    def step(self) -> CDStats:
        """One training iteration: sample negatives, take a gradient step, guard against divergence."""
        cfg = self.config
        self.energy.train()
        x_neg, idx = self.sample_negatives()
        x_neg, chains_reset = self.buffer.write_back(idx, x_neg, cfg.max_chain_norm, self.generator)
        x_pos, self.positive = self.positive, None
        with autocast_for(x_pos.device, cfg.precision):   # the loss itself is taken in float32
            e_pos = self.energy(x_pos).float()
            e_neg = self.energy(x_neg).float() if len(x_neg) else e_pos.new_zeros(1)
        loss = self.loss(e_pos, e_neg)
        norm = backward_clipped(loss, self.optimizer, self.energy, cfg.grad_clip)
        # one device-to-host read for every figure of the step
        loss_value, e_data, e_model, grad_norm = host_values(loss, e_pos.mean(), e_neg.mean(), norm)
        diverged = self.finish_step(self.optimizer, math.isfinite(loss_value) and math.isfinite(grad_norm),
                                    self.energy)
        self.last_negatives = x_neg.detach()
        return CDStats(self.step_count, loss_value, e_data, e_model, grad_norm, diverged, chains_reset)

    def loss(self, e_pos: torch.Tensor, e_neg: torch.Tensor) -> torch.Tensor:
        """The training loss from the data's and the negatives' energies."""
        cfg = self.config
        if cfg.loss == "cd":
            objective = e_pos.mean() - e_neg.mean()
        else:
            objective = torch.relu(cfg.hinge_margin + e_pos.mean() - e_neg.mean())
        return objective + cfg.l2_weight * (e_pos.pow(2).mean() + e_neg.pow(2).mean())

    def provisional(self) -> dict[str, float] | None:
        """``e_data``, ``e_neg`` and ``loss`` of the iteration in flight if its chains stopped now (the
        batch's energy is taken once per iteration); None before its chains have moved."""
        chains = self.in_flight
        if chains is None or chains.steps_done == 0 or self.positive is None:
            return None
        with torch.no_grad():
            if self._positive_energy is None:
                with autocast_for(self.positive.device, self.config.precision):
                    self._positive_energy = self.energy(self.positive).float()
            e_neg = chains.state.energy.float()
            e_neg = e_neg[torch.isfinite(e_neg)]
            if not len(e_neg):
                return None
            e_data, e_model, loss = host_values(self._positive_energy.mean(), e_neg.mean(),
                                                self.loss(self._positive_energy, e_neg))
        return {"e_data": e_data, "e_neg": e_model, "loss": loss}

    def _after_restore(self) -> None:
        """Live settings back on the optimiser; chains the bad step left non-finite start afresh."""
        self.in_flight, self.positive = None, None
        self.apply_settings()
        bad = ~torch.isfinite(self.buffer.store.reshape(self.buffer.capacity, -1)).all(dim=1)
        self.buffer.reset(bad, self.generator)
