"""JEM & OOD job that trains nothing: it scores a frozen copy of the ConvEBM the Images page trained by
its energy ``E(x)``, against the same OOD sets (``jem_ood``), and samples ``p(x)`` from noise.

The copy is taken when the job is built (Reset takes it again), so training on the Images page goes
on without changing these scores. A plain energy has no classes: no accuracy, no softmax score.
"""
from __future__ import annotations

from typing import Any

import torch

from ebm_engine.data.digits import DigitSplit
from ebm_engine.energies.frozen import frozen_copy
from ebm_engine.runtime.jobs.jem_ood import OODJob
from ebm_engine.training.jem_trainer import JEMConfig, frozen_sgld

IMAGES_JOB = "images"   # the job id of the Images page, whose ConvEBM this job scores


class BorrowedEnergyJob(OODJob):
    """OOD scores and ``p(x)`` samples of the Images page's ConvEBM, frozen."""

    KIND = "jem_borrowed"
    MODEL = "images_conv_ebm"
    SIBLING_MODELS = ("jem",)   # the page's own model: loading one of its checkpoints opens the JEM job
    TABLE_SCORES = ("energy",)

    def make_model(self, split: DigitSplit) -> torch.nn.Module:
        """A frozen copy of the ConvEBM the Images page has trained."""
        images = self.peers().get(IMAGES_JOB)
        if images is None or images.step_count == 0:
            raise ValueError("no trained ConvEBM yet: open the Images page and train a model there first")
        if tuple(images.shape) != self.shape:
            raise ValueError(f"the Images page's ConvEBM works on {images.shape[0]}×{images.shape[1]} images; "
                             f"this page scores {self.shape[0]}×{self.shape[1]} digits")
        self.borrowed_step = int(images.step_count)
        return frozen_copy(images.energy).to(self.device)

    def model_name(self) -> str:
        return self.MODEL

    # --- sampling ----------------------------------------------------------------------------
    def advance(self) -> None:
        """Nothing to train: the chains sample the borrowed energy a few more steps."""
        self.samples = self._sgld(self.sample_energy, self.samples, self.config["sample_steps"])

    def _sgld(self, energy, x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return frozen_sgld(self.model, energy, x, steps, JEMConfig(), generator or self.generator)

    def _start_samples(self) -> None:
        """No classes: ``10 × samples_per_class`` chains of ``p(x)`` from uniform noise."""
        n = 10 * self.config["samples_per_class"]
        self.sample_energy = self.model
        lo, hi = JEMConfig().pixel_range
        self.samples = lo + (hi - lo) * torch.rand(n, self.train.shape[1], generator=self.generator,
                                                    device=self.generator.device).to(self.device)

    # --- scoring and snapshot ----------------------------------------------------------------
    def accuracy(self, predictions) -> float:
        return float("nan")

    def class_readout(self, x: torch.Tensor) -> tuple[int, float]:
        return -1, float("nan")

    def _score_label(self, score: str) -> str:
        return "energy E(x) of the Images page's ConvEBM" if score == "energy" else super()._score_label(score)

    def model_payload(self) -> dict[str, Any]:
        return {"borrowed_step": self.borrowed_step}

    def action_save_checkpoint(self, checkpoint: str = "") -> None:
        """Nothing to save: the ConvEBM belongs to the Images page and is saved there."""
        self._checkpoint_result(False, "Not saved: this page only borrows the Images page's ConvEBM; "
                                       "save it from the Images page")
