"""Training a ``LatentEBM``: a variational positive phase and persistent contrastive divergence on the joint.

The recipe is the one of deep Boltzmann machines (Salakhutdinov & Hinton 2009): the data-dependent
expectation of the maximum-likelihood gradient uses a variational posterior, the model
expectation uses persistent Markov chains (PCD, Tieleman 2008). The posterior is amortised by the
encoder, as the recognition model of Salakhutdinov & Larochelle (2010), and trained with the
reparameterised evidence lower bound (Kingma & Welling 2014). Each step minimises

    mean_x [ E_q[E(x, z)] - H(q(·|x)) ]  -  mean_neg E(x⁻, z⁻)  +  λ (E_pos² + E_neg²)

whose first two terms are ``-(ELBO(x) - log Z) ≥ -log p(x)``: an upper bound on the negative
log-likelihood, tight when ``q`` is the exact posterior. The negatives ``(x⁻, z⁻)`` are Langevin
chains on the joint kept in a replay buffer (95% persistent, 5% fresh), as in
``ContrastiveDivergence``; the small L2 penalty keeps the energies from drifting.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import param
import torch

from ebm_engine.config import POSITIVE, Config
from ebm_engine.models.latent_ebm import LatentEBM
from ebm_engine.samplers.short_run import ShortRunChain
from ebm_engine.samplers.state import randn_on
from ebm_engine.training.last_good_state import GuardedTrainer, LastGoodState, backward_clipped
from ebm_engine.training.replay_buffer import InitFn, ReplayBuffer


class LatentEBMConfig(Config):
    """Hyper-parameters of latent-EBM training."""

    lr = param.Number(3e-3, **POSITIVE)
    batch_size = param.Integer(256, bounds=(1, None))
    langevin_steps = param.Integer(10, bounds=(0, None))
    step_size = param.Number(0.02, **POSITIVE)
    reinit_fraction = param.Number(0.05, bounds=(0, 1))
    l2_weight = param.Number(0.1, bounds=(0, None))
    grad_clip = param.Number(1.0, **POSITIVE)
    buffer_size = param.Integer(10000, bounds=(1, None))
    max_chain_norm = param.Number(None, **POSITIVE, doc="chains farther out are re-initialised")


@dataclass
class LatentEBMStats:
    step: int
    loss: float
    e_data: float          # mean E(x, z) with z ~ q(z|x)
    e_neg: float
    entropy: float         # mean entropy of q(z|x)
    diverged: bool


class LatentEBMTrainer(GuardedTrainer):
    """Step-able trainer of a ``LatentEBM``; ``init_fn`` draws fresh data-space chain starts."""

    def __init__(self, model: LatentEBM, data_fn: Callable[[int, torch.Generator | None], torch.Tensor],
                 init_fn: InitFn, config: LatentEBMConfig | None = None,
                 generator: torch.Generator | None = None):
        self.model = model
        self.data_fn = data_fn
        self.config = config or LatentEBMConfig()
        self.generator = generator
        self.joint = model.joint()

        def joint_init(n: int, g: torch.Generator | None) -> torch.Tensor:
            x = init_fn(n, g)
            return torch.cat([x, randn_on((n, model.latent_dim), x, g)], dim=1)

        self.buffer = ReplayBuffer(self.config.buffer_size, joint_init, generator)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=self.config.lr)
        self.step_count = 0
        self.last_negatives = self.buffer.store[: self.config.batch_size].clone()
        self.last_good = LastGoodState([(self.model, self.optimizer)], self.step_count,
                                       after_restore=self.apply_settings)

    def sample_negatives(self) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        xz, idx = self.buffer.sample(cfg.batch_size, cfg.reinit_fraction, self.generator)
        chain = ShortRunChain(self.joint, xz, cfg.step_size, None, clamp=None, generator=self.generator)
        return chain.step(cfg.langevin_steps), idx

    def step(self) -> LatentEBMStats:
        cfg = self.config
        self.model.train()
        xz_neg, idx = self.sample_negatives()
        xz_neg, _ = self.buffer.write_back(idx, xz_neg, cfg.max_chain_norm, self.generator, self.model.data_dim)
        x = self.data_fn(cfg.batch_size, self.generator)
        z, _ = self.model.sample_latent(x, 1, self.generator)
        _, std = self.model.encode(x)
        entropy = (torch.log(std) + 0.5 * (1 + math.log(2 * math.pi))).sum(dim=1)
        e_pos = self.model.joint_energy(x, z[0])
        e_neg = self.joint(xz_neg) if len(xz_neg) else e_pos.new_zeros(1)
        loss = (e_pos.mean() - entropy.mean() - e_neg.mean()
                + cfg.l2_weight * (e_pos.pow(2).mean() + e_neg.pow(2).mean()))
        grad_norm = float(backward_clipped(loss, self.optimizer, self.model, cfg.grad_clip))
        diverged = self.finish_step(self.optimizer, bool(torch.isfinite(loss)) and math.isfinite(grad_norm),
                                    self.model)
        self.last_negatives = xz_neg.detach()
        return LatentEBMStats(self.step_count, float(loss.detach()), float(e_pos.detach().mean()),
                              float(e_neg.detach().mean()), float(entropy.detach().mean()), diverged)
