"""JEM & OOD jobs that train their model on digits: a JEM (cross-entropy + SGLD generative term), or
the same net as a plain classifier (cross-entropy only), scored live against OOD sets (``jem_ood``).

Each ``step()`` is one training iteration plus a few SGLD steps of the class-conditional sample
chains; while the page plays, an iteration's SGLD negatives run in slices, and the sample chains
move a step between slices.
"""
from __future__ import annotations

from typing import Any

import param
import torch

from ebm_engine.data.digits import DigitSplit
from ebm_engine.models.jem import JEM, ClassConditionalEnergy
from ebm_engine.runtime.job import seeded
from ebm_engine.runtime.views.curves import curve_tail
from ebm_engine.runtime.jobs.jem_ood import OODControls, OODJob
from ebm_engine.runtime.training_state import untouched
from ebm_engine.training.jem_trainer import JEMConfig, JEMStats, JEMTrainer


class JEMControls(OODControls):
    """The JEM & OOD controls, with the size of the trained network and its replay buffer."""

    width = param.Integer(default=32, bounds=(4, 512), precedence=-1)
    batch_size = param.Integer(default=64, bounds=(1, 100_000), precedence=-1)
    buffer_size = param.Integer(default=5000, bounds=(1, 10_000_000), precedence=-1)


class JEMJob(OODJob):
    """JEM training with live OOD scoring; its sample chains start from the replay buffer."""

    KIND = "jem"
    MODEL = "jem"
    GENERATIVE_WEIGHT = 1.0
    CONTROLS = JEMControls
    CHECKPOINT_MODELS = ("jem",)
    MODEL_ARGS = ("width",)

    def make_model(self, split: DigitSplit) -> torch.nn.Module:
        cfg = self.config
        model = seeded(cfg["seed"], lambda: JEM(self.shape, n_classes=10, width=cfg["width"])).to(self.device)
        self.trainer = JEMTrainer(model, self.train, split.train_labels.to(self.device),
                                  JEMConfig(batch_size=cfg["batch_size"], buffer_size=cfg["buffer_size"],
                                            generative_weight=self.GENERATIVE_WEIGHT),
                                  generator=self.generator)
        return model

    def on_knobs(self, changed: dict[str, Any]) -> None:
        k = self.knobs
        self.trainer.update_config(lr=k["lr"], sgld_steps=k["sgld_steps"], l2_weight=k["l2_weight"])
        super().on_knobs(changed)

    # --- training and sampling ---------------------------------------------------------------
    def advance_slice(self, seconds: float) -> bool:
        """An iteration's SGLD negatives a slice at a time (the same draws as in one go), then its update.
        Between slices the class-conditional samples take one more step, with noise from their own
        stream, so they keep moving on the page while the training stream stays what it would be."""
        if self.run_for(self.trainer.negative_steps(), seconds):
            self.advance()
            return True
        self.samples = self._sgld(self.sample_energy, self.samples, 1, self.display_generator)
        return False

    def settle(self) -> None:
        if self.trainer.in_flight is not None:
            self.step()

    def advance(self) -> None:
        stats = self.trainer.step()
        self.history.add(step=float(self.step_count + 1), cross_entropy=stats.cross_entropy, e_data=stats.e_data,
                         e_neg=self.sample_energy_of(stats))
        self.warn_if_diverged(stats, self.trainer, remedy="The replay buffer was refilled; lower the learning rate "
                                                          "or the SGLD step size.")
        self.samples = self._sgld(self.sample_energy, self.samples, self.config["sample_steps"])

    def sample_energy_of(self, stats: JEMStats) -> float:
        """The E(SGLD samples) curve's point of an iteration."""
        return stats.e_neg

    def _sgld(self, energy, x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.trainer.sgld(energy, x, steps, generator)

    def sample_starts(self, n: int) -> torch.Tensor:
        """Starts of the class-conditional chains: draws from the replay buffer."""
        idx = torch.randint(self.trainer.buffer.capacity, (n,), generator=self.generator,
                            device=self.generator.device).to(self.device)
        return self.trainer.buffer.store[idx].clone()

    def _start_samples(self) -> None:
        """Class-conditional chains: ``samples_per_class`` per digit, or 36 of the chosen class."""
        choice = self.knobs["sample_class"]
        if choice == "all":
            per = self.config["samples_per_class"]
            labels = torch.arange(10, device=self.device).repeat_interleave(per)
        else:
            labels = torch.full((36,), int(choice), dtype=torch.long, device=self.device)
        self.samples = self.sample_starts(len(labels))
        self.sample_energy = ClassConditionalEnergy(self.model, labels)

    # --- checkpoints -------------------------------------------------------------------------
    def model_modules(self) -> dict[str, torch.nn.Module]:
        return {"model": self.model}

    def checkpoint_metrics(self) -> dict[str, float]:
        return self.evaluation_figures() if self.evaluation.get("eval_step") == self.step_count else {}

    def evaluation_figures(self) -> dict[str, float]:
        """The last evaluation's test accuracy and energy-score AUROC against each OOD set."""
        metrics = self.evaluation["metrics"]
        return {"test_accuracy": self.evaluation["accuracy"],
                **{f"auroc_{name}": m["energy"]["auroc"] for name, m in metrics.items()}}

    def after_load(self) -> None:
        """Samples from the loaded model's buffer and its OOD scores at once."""
        with untouched(self.generator):   # the training stream continues where the checkpoint left it
            self._start_samples()
        self.evaluate()

    # --- snapshot ----------------------------------------------------------------------------
    def class_readout(self, x: torch.Tensor) -> tuple[int, float]:
        with torch.no_grad():
            probs = torch.softmax(self.model.logits(x), dim=1)[0]
        return int(probs.argmax()), float(probs.max())

    def _history_tail(self) -> dict[str, float] | None:
        """The E(SGLD samples) curve's provisional end: the mean energy of the chains in flight."""
        chains = self.trainer.in_flight[1] if self.trainer.in_flight else None
        return curve_tail(self.step_count, chains, self.knobs["sgld_steps"],
                          chains and {"e_neg": float(chains.state.energy.mean())})

    def model_payload(self) -> dict[str, Any]:
        return {"history_tail": self._history_tail(), "divergences": self.trainer.divergences}


class ClassifierJob(JEMJob):
    """The JEM's net trained by cross-entropy alone: no SGLD negatives, so its chains start from noise."""

    KIND = "jem_classifier"
    MODEL = "classifier"
    GENERATIVE_WEIGHT = 0.0

    def sample_energy_of(self, stats: JEMStats) -> float:
        return float("nan")   # no SGLD samples in training

    def sample_starts(self, n: int) -> torch.Tensor:
        return self.trainer.fresh_noise(n, self.generator)
