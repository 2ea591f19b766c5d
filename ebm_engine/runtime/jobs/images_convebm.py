"""Images job, ConvEBM: contrastive divergence with a replay buffer of persistent Langevin chains.

While the page plays, an iteration's Langevin chains run in slices, and snapshots between slices
show them moving, with the buffer slots they were drawn from. Sample quality scores the replay
buffer and a fresh short-run chain from noise.

The first Play of a fresh page continues from the shipped ConvEBM when it fits the settings
(``FIRST_PLAY``); a weights-only checkpoint brings no replay buffer, so a loaded ConvEBM first
settles one (``BufferSettling``, about a second, shown as the current samples).
"""
from __future__ import annotations

from typing import Any

import torch

from ebm_engine.runtime.job import to_numpy
from ebm_engine.runtime.views.buffer_settling import BufferSettling
from ebm_engine.runtime.views.curves import curve_tail
from ebm_engine.runtime.jobs.images import ImagesJobBase, QualityRun
from ebm_engine.runtime.parts import same_object
from ebm_engine.samplers.short_run import noise_images
from ebm_engine.training.image_recipes import image_cd_trainer, lab_image_config


class ConvEBMJob(ImagesJobBase):
    """A ConvEBM trained by contrastive divergence with a replay buffer, its chains shown in flight."""

    KIND = "images"
    CHECKPOINT_MODELS = ("conv_ebm",)
    SIBLING_MODELS = ("ebm_generator",)
    QUALITY_CHAIN_FIRST = False   # the replay buffer first, then the short-run chain from noise

    def build(self) -> None:
        self.settling: BufferSettling | None = None
        super().build()

    def make_trainer(self) -> Any:
        config = lab_image_config(batch_size=self.config["batch_size"], buffer_size=self.config["buffer_size"])
        return image_cd_trainer(self.energy, self.train, config, self.generator)

    def on_knobs(self, changed: dict[str, Any]) -> None:
        k = self.knobs
        self.trainer.update_config(lr=k["lr"], step_size=k["step_size"], noise_scale=k["noise_scale"],
                                   l2_weight=k["l2_weight"], langevin_steps=k["langevin_steps"],
                                   reinit_fraction=k["reinit_fraction"], sample_temperature=k["temperature"])

    def chain_start(self, n: int) -> torch.Tensor:
        return noise_images(n, (1, *self.shape), self.generator, self.device)

    def sampling_steps(self) -> int:
        return self.knobs["generate_steps"]

    # --- training ---------------------------------------------------------------------------
    def advance_slice(self, seconds: float) -> bool:
        """The iteration's Langevin chains a slice at a time (the page shows them moving), then its
        update; the chains take the same steps as in one go. A buffer being settled after a load is
        finished first, also a slice at a time."""
        if self.settling is not None:
            if self.settling.run(seconds):
                self.settling = None
            return False
        if not self.run_for(self.trainer.negative_steps(), seconds):
            return False
        self.advance()
        return True

    def settle(self) -> None:
        self._finish_settling()
        if self.trainer.in_flight is not None:
            self.step()

    def _finish_settling(self) -> None:
        if self.settling is not None:
            self.settling.run()
            self.settling = None

    def advance(self) -> None:
        self._finish_settling()
        super().advance()

    # --- sample quality ---------------------------------------------------------------------
    def start_quality_run(self) -> QualityRun:
        """Score the replay buffer now and a fresh chain from noise when it ends."""
        n = self.config["quality_samples"]
        buffer = self.trainer.buffer
        index = torch.randperm(buffer.capacity, generator=self.generator, device=buffer.store.device)[:n]
        drawn = to_numpy(buffer.store[index])
        if not self.quality:   # nothing measured yet: the buffer's scores now, the chain's when it ends
            self.quality = {**self.scorer.evaluate(drawn), "quality_step": self.step_count}
        return self.quality_run_from(self.chain_start(n), drawn)

    # --- checkpoints ------------------------------------------------------------------------
    def after_load(self) -> None:
        """Also settle a replay buffer for the loaded model if the checkpoint brought none."""
        super().after_load()
        self.settling = None
        if "replay buffer" not in self.restored_training_state:
            k, cfg = self.knobs, self.config
            self.settling = BufferSettling(self.energy, self.trainer.buffer, cfg["settle_chains"], cfg["settle_steps"],
                                           k["step_size"], k["noise_scale"], k["temperature"], self.generator)
            self.trainer.in_flight = None

    # --- snapshot ---------------------------------------------------------------------------
    def model_views(self, n: int) -> dict[str, Any]:
        """The chains in flight while an iteration samples (else its result) and the buffer slots they
        were drawn from; while a loaded model settles its buffer, the chains doing it. Chains move by new
        states; the buffer is written in place (``same_object`` sees it)."""
        parts, store = self.parts, self.trainer.buffer.store
        if self.settling is not None:
            chain = self.settling.chain
            return {"samples": parts.part("samples", same_object(chain.x), lambda: self._mosaic(chain.x[:n])),
                    "buffer": parts.part("buffer", same_object(store), lambda: self._mosaic(store[:n])),
                    "settling_step": chain.steps_done, "settling_steps": self.settling.steps}
        chains = self.trainer.in_flight
        # the curves' provisional ends: what the iteration in flight would measure if its chains stopped now
        now = self.trainer.provisional()
        tail = curve_tail(self.step_count, chains, self.knobs["langevin_steps"],
                          now and {"e_data": now["e_data"], "e_samples": now["e_neg"], "loss": now["loss"]})
        shown = self.trainer.last_negatives if chains is None else chains.x
        return {"samples": parts.part("samples", same_object(shown), lambda: self._mosaic(shown[:n])),
                "chain_step": None if chains is None else chains.steps_done, "history_tail": tail,
                # the update of the iteration in flight writes its chains back to these slots
                "buffer": parts.part("buffer", (same_object(store), same_object(chains)),
                                     lambda: self._mosaic(store[:n] if chains is None else store[chains.idx[:n]]))}
