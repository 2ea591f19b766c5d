"""EBM + generator: an energy and a generator trained against each other (cooperative training).

Each ``step()`` does two updates with two different objectives:

1. **EBM**: the generator proposes images ``G(z)``; optionally a few Langevin steps on the energy
   refine them; the energy is lowered on data and raised on the (refined) proposals:
   ``E(x_data) - E(x_refined) + α (E(x_data)² + E(x_refined)²)``.
2. **Generator**: it learns to propose low-energy images, with an entropy bonus so it does not
   collapse onto one image: ``E(G(z)) - λ Ĥ(G(z))``, where ``Ĥ`` is the Kozachenko–Leonenko
   nearest-neighbour entropy estimate of the batch (per dimension, up to a constant: the mean
   log distance of each proposal to its nearest neighbour). With refinement on, the generator
   also regresses onto the refined images (``μ ‖G(z) - x_refined‖²``, CoopNets), so it learns
   what the Langevin chains found.

Only the energy's parameters move in the first update and only the generator's in the second.
A non-finite loss or weight rolls both networks and their optimisers back to the last good state.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import param
import torch

from ebm_engine.config import POSITIVE, Config, Interval
from ebm_engine.energies.base import Energy
from ebm_engine.energies.frozen import frozen
from ebm_engine.models.image_generator import ImageGenerator
from ebm_engine.samplers.short_run import ShortRunChain
from ebm_engine.training.last_good_state import GuardedTrainer, LastGoodState, backward_clipped


class EBMGeneratorConfig(Config):
    """Hyper-parameters of EBM + generator training; all may change between steps."""

    lr = param.Number(1e-3, **POSITIVE)
    generator_lr = param.Number(1e-3, **POSITIVE)
    batch_size = param.Integer(128, bounds=(2, None), doc="at least 2: the entropy needs neighbours")
    refine_steps = param.Integer(10, bounds=(0, None), doc="Langevin refinement of the proposals; 0 turns it off")
    step_size = param.Number(1.0, **POSITIVE)
    noise_scale = param.Number(0.01, bounds=(0, None))
    temperature = param.Number(1.0, **POSITIVE)
    l2_weight = param.Number(0.1, bounds=(0, None))
    entropy_weight = param.Number(0.05, bounds=(0, None))
    cooperative_weight = param.Number(1.0, bounds=(0, None),
                                      doc="pull G(z) towards its refined image (with refinement only)")
    grad_clip = param.Number(1.0, allow_None=True, **POSITIVE)
    clamp = Interval((0.0, 1.0))


@dataclass
class EBMGeneratorStats:
    """What one iteration measured."""

    step: int
    loss: float              # the EBM's loss
    generator_loss: float
    e_data: float
    e_neg: float             # energy of the (refined) proposals the EBM trained against
    e_proposals: float       # energy of the raw proposals
    entropy: float
    grad_norm: float
    diverged: bool


def nearest_neighbour_entropy(x: torch.Tensor) -> torch.Tensor:
    """Kozachenko–Leonenko entropy estimate per dimension, up to an additive constant.

    ``mean_i log ρ_i``, where ``ρ_i`` is the distance from sample ``i`` to its nearest
    neighbour in the batch. Differentiable; larger when the samples spread out.
    """
    flat = x.reshape(len(x), -1)
    distances = torch.cdist(flat, flat) + torch.eye(len(x), device=x.device, dtype=x.dtype) * 1e10
    nearest = distances.min(dim=1).values
    return torch.log(nearest + 1e-8).mean()


class EBMGeneratorTrainer(GuardedTrainer):
    """Step-able cooperative training of an energy ``energy`` and a generator ``generator_net``."""

    def __init__(self, energy: Energy, generator_net: ImageGenerator, data_fn, config: EBMGeneratorConfig | None = None,
                 generator: torch.Generator | None = None, checkpoint_every: int = 25):
        self.energy = energy
        self.generator_net = generator_net
        self.data_fn = data_fn
        self.config = config or EBMGeneratorConfig()
        self.generator = generator
        self.energy_optimizer = torch.optim.Adam(energy.parameters(), lr=self.config.lr, betas=(0.5, 0.999))
        self.generator_optimizer = torch.optim.Adam(generator_net.parameters(), lr=self.config.generator_lr,
                                                    betas=(0.5, 0.999))
        self.step_count = 0
        self.last_proposals: torch.Tensor | None = None
        self.last_refined: torch.Tensor | None = None
        self.last_good = LastGoodState([(self.energy, self.energy_optimizer),
                                        (self.generator_net, self.generator_optimizer)], self.step_count,
                                       checkpoint_every, after_restore=self.apply_settings)

    def apply_settings(self) -> None:
        for group in self.energy_optimizer.param_groups:
            group["lr"] = self.config.lr
        for group in self.generator_optimizer.param_groups:
            group["lr"] = self.config.generator_lr

    def propose(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Latent codes, raw proposals ``G(z)`` and their Langevin-refined versions (all detached)."""
        cfg = self.config
        z = self.generator_net.sample_latent(n, self.generator)
        with torch.no_grad():
            proposals = self.generator_net(z)
        refined = proposals
        if cfg.refine_steps > 0:
            chain = ShortRunChain(self.energy, proposals, cfg.step_size, cfg.noise_scale, cfg.temperature,
                                  cfg.clamp, self.generator)
            refined = chain.step(cfg.refine_steps)
        return z, proposals, refined.detach()

    def step(self) -> EBMGeneratorStats:
        """One iteration: an EBM update against (refined) proposals, then a generator update."""
        cfg = self.config
        self.energy.train()
        self.generator_net.train()
        z, proposals, refined = self.propose(cfg.batch_size)
        x_pos = self.data_fn(cfg.batch_size, self.generator)

        e_pos, e_neg = self.energy(x_pos), self.energy(refined)
        loss = e_pos.mean() - e_neg.mean() + cfg.l2_weight * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
        grad_norm = float(backward_clipped(loss, self.energy_optimizer, self.energy, cfg.grad_clip))
        energy_ok = bool(torch.isfinite(loss)) and math.isfinite(grad_norm)
        if energy_ok:
            self.energy_optimizer.step()

        generator_loss, e_gen, entropy, generator_ok = self.generator_step(z, refined, apply=False)
        diverged = self.finish_step(self.generator_optimizer, energy_ok and generator_ok, self.energy,
                                    self.generator_net)
        self.last_proposals, self.last_refined = proposals, refined
        return EBMGeneratorStats(self.step_count, float(loss.detach()), float(generator_loss.detach()),
                                 float(e_pos.detach().mean()), float(e_neg.detach().mean()),
                                 float(e_gen.detach().mean()), float(entropy.detach()), grad_norm, diverged)

    def generator_step(self, z: torch.Tensor, refined: torch.Tensor | None = None,
                       apply: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
        """One generator update on latent codes ``z`` with the energy frozen.

        Returns the loss, the energies ``E(G(z))`` before the update, the entropy estimate, and
        whether the update was finite (a non-finite one is not applied).
        """
        cfg = self.config
        self.generator_net.train()
        with frozen(self.energy):
            images = self.generator_net(z)
            e_gen = self.energy(images)
            entropy = nearest_neighbour_entropy(images)
            loss = e_gen.mean() - cfg.entropy_weight * entropy
            if refined is not None and cfg.refine_steps > 0 and cfg.cooperative_weight > 0:
                loss = loss + cfg.cooperative_weight * (images - refined).pow(2).flatten(1).sum(dim=1).mean()
        norm = float(backward_clipped(loss, self.generator_optimizer, self.generator_net, cfg.grad_clip))
        finite = bool(torch.isfinite(loss)) and math.isfinite(norm)
        if finite and apply:
            self.generator_optimizer.step()
        return loss.detach(), e_gen.detach(), entropy.detach(), finite
