"""Images job, EBM + generator: a generator network proposes samples that a few Langevin steps on
the ConvEBM energy refine; energy and generator learn together, a whole iteration per step.
"""
from __future__ import annotations

from typing import Any

import torch

from ebm_engine.models.image_generator import ImageGenerator
from ebm_engine.runtime.job import to_numpy
from ebm_engine.runtime.jobs.images import ImagesJobBase, QualityRun
from ebm_engine.runtime.parts import same_object
from ebm_engine.training.ebm_generator import EBMGeneratorConfig, EBMGeneratorTrainer
from ebm_engine.training.image_recipes import image_batches


class EBMGeneratorJob(ImagesJobBase):
    """A ConvEBM and an image generator whose proposals it refines, trained together."""

    KIND = "images_generator"
    CHECKPOINT_MODELS = ("ebm_generator",)
    SIBLING_MODELS = ("conv_ebm",)

    def make_networks(self) -> None:
        self.generator_net = ImageGenerator(self.shape).to(self.device)

    def make_trainer(self) -> Any:
        return EBMGeneratorTrainer(self.energy, self.generator_net, image_batches(self.train),
                                   EBMGeneratorConfig(batch_size=self.config["batch_size"]), self.generator)

    def on_knobs(self, changed: dict[str, Any]) -> None:
        k = self.knobs
        self.trainer.update_config(lr=k["lr"], step_size=k["step_size"], noise_scale=k["noise_scale"],
                                   l2_weight=k["l2_weight"], refine_steps=k["langevin_steps"],
                                   temperature=k["temperature"], entropy_weight=k["entropy_weight"])

    def chain_start(self, n: int) -> torch.Tensor:
        """Fresh proposals of the generator."""
        with torch.no_grad():
            return self.generator_net(self.generator_net.sample_latent(n, self.generator))

    def sampling_steps(self) -> int:
        """The refinement steps of a proposal (the training iterations' own)."""
        return self.knobs["langevin_steps"]

    # --- sample quality ---------------------------------------------------------------------
    def start_quality_run(self) -> QualityRun:
        """The refined proposals, scored beside the raw ones."""
        start = self.chain_start(self.config["quality_samples"])
        return self.quality_run_from(start, to_numpy(start))

    # --- checkpoints ------------------------------------------------------------------------
    def model_modules(self) -> dict[str, torch.nn.Module]:
        return {**super().model_modules(), "generator_net": self.generator_net}

    # --- snapshot ---------------------------------------------------------------------------
    def model_views(self, n: int) -> dict[str, Any]:
        """The refined samples, and pairs of a raw proposal beside its refined version (both replaced by
        each iteration; before the first, fresh ones drawn once)."""
        key = (same_object(self.trainer.last_proposals), same_object(self.trainer.last_refined))
        return self.parts.part("samples", key, lambda: self._views(n))

    def _views(self, n: int) -> dict[str, Any]:
        proposals, refined = self.trainer.last_proposals, self.trainer.last_refined
        if proposals is None:
            proposals, refined = self.trainer.propose(n)[1:]
        half = max(1, n // 2)
        pairs = torch.stack([proposals[:half], refined[:half]], dim=1).reshape(-1, 1, *self.shape)
        return {"samples": self._mosaic(refined[:n]), "proposals": self._mosaic(pairs, cols=6)}
