"""RBM job: train a Bernoulli RBM on binarised digits by CD-k or PCD, live.

Each ``step()`` is one mini-batch update plus one Gibbs sweep of the fantasy particles. The test
log-likelihood is estimated by AIS on a frozen copy of the weights, a few annealing temperatures per
training step, so training never waits for it and the estimate refreshes every few seconds.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import param
import torch

from ebm_engine.device import make_generator
from ebm_engine.metrics.rbm_partition import AISRun, base_bias_from_data
from ebm_engine.metrics.rbm_likelihood import pseudo_likelihood, rbm_log_likelihood
from ebm_engine.models.rbm import RBM
from ebm_engine.runtime.controls import KNOB, LOG_KNOB
from ebm_engine.runtime.job import Job, to_numpy
from ebm_engine.runtime.jobs.images import DigitDataControls, load_digit_data
from ebm_engine.runtime.refresh import Refresh
from ebm_engine.runtime.views.curves import Curves
from ebm_engine.runtime.mosaic import tile
from ebm_engine.runtime.parts import same_object
from ebm_engine.runtime.training_state import untouched
from ebm_engine.training.rbm_trainer import RBMConfig, RBMTrainer

HALVES = ("bottom", "top", "left", "right")


def half_mask(shape: tuple[int, int], half: str) -> torch.Tensor:
    """Boolean mask (h·w,) of the pixels that are KEPT (clamped) when ``half`` is hidden."""
    h, w = shape
    every = slice(None)
    hidden = {"bottom": (slice(h // 2, None), every), "top": (slice(None, h // 2), every),
              "left": (every, slice(None, w // 2)), "right": (every, slice(w // 2, None))}
    if half not in hidden:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}")
    keep = torch.ones(h, w, dtype=torch.bool)
    keep[hidden[half]] = False
    return keep.flatten()


class RBMControls(DigitDataControls):
    n_hidden = param.Selector(default=64, objects=[16, 32, 64, 128, 256, 512], label="Hidden units")
    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed")
    batch_size = param.Integer(default=100, bounds=(1, 100_000), precedence=-1)
    n_show = param.Integer(default=16, bounds=(1, 256), precedence=-1)
    n_fantasy = param.Integer(default=36, bounds=(1, 1024), precedence=-1)
    ais_every_s = param.Number(default=5.0, bounds=(0.0, None), precedence=-1)
    ais_chains = param.Integer(default=100, bounds=(2, 100_000), precedence=-1)
    ais_betas = param.Integer(default=3000, bounds=(2, 1_000_000), precedence=-1)
    ais_per_step = param.Integer(default=60, bounds=(1, 1_000_000), precedence=-1)
    pl_every = param.Integer(default=10, bounds=(1, 100_000), precedence=-1)

    method = param.Selector(default="pcd", objects={"CD-k": "cd", "PCD": "pcd"}, label="CD or PCD",
                            doc="CD-k restarts the negative chains at the data; PCD keeps them between updates",
                            metadata=KNOB)
    k = param.Integer(default=1, bounds=(1, 50), softbounds=(1, 20), label="Gibbs steps k",
                      doc="Gibbs steps per update", metadata=KNOB)
    lr = param.Number(default=0.1, bounds=(1e-4, 1.0), softbounds=(1e-3, 0.2), label="Learning rate", metadata=LOG_KNOB)
    momentum = param.Number(default=0.5, bounds=(0.0, 0.99), step=0.05, label="Momentum", metadata=KNOB)
    temperature = param.Number(default=1.0, bounds=(0.1, 10.0), softbounds=(0.1, 5.0), step=0.05,
                               label="Sampling temperature", doc="temperature of the fantasy chains", metadata=KNOB)
    weight_decay = param.Number(default=1e-4, bounds=(0.0, 0.1), step=1e-4, label="Weight decay", metadata=KNOB)


class RBMJob(Job):
    """CD-k / PCD training of an RBM with live images and an AIS log-likelihood in the background."""

    KIND = "rbm"
    CONTROLS = RBMControls
    ACTIONS = ("complete", "refresh_ais")
    CHECKPOINT_MODELS = ("rbm",)
    MODEL_ARGS = ("n_hidden",)

    def build(self) -> None:
        cfg = self.config
        split = load_digit_data(cfg, binarize=True)
        self.shape = tuple(split.shape)
        self.train = split.train.to(self.device)
        self.test = split.test.to(self.device)
        self.generator = make_generator(cfg["seed"], self.device)
        self.rbm = RBM(self.train.shape[1], cfg["n_hidden"], generator=self.generator).to(self.device)
        self.rbm.init_visible_bias(self.train)
        config = RBMConfig(batch_size=cfg["batch_size"], n_persistent=cfg["n_fantasy"])
        self.trainer = RBMTrainer(self.rbm, self.train, config, generator=self.generator)
        self.history = Curves(("step", "recon_error", "pseudo_ll"), 5000)
        self.shown = self.test[: cfg["n_show"]]
        self.fantasy_view = self.trainer.fantasy.clone()
        self.completion: dict[str, Any] | None = None
        self.base_bias = base_bias_from_data(self.train)
        self.ais_run: AISRun | None = None
        self.ais: dict[str, Any] = {}
        self.ais_refresh = Refresh(lambda: self.config["ais_every_s"])
        self.last_good = (0, copy.deepcopy(self.rbm.state_dict()))
        self.on_knobs(self.knobs.as_dict())

    def on_knobs(self, changed: dict[str, Any]) -> None:
        k = self.knobs
        self.trainer.update_config(lr=k["lr"], k=k["k"], persistent=k["method"] == "pcd",
                                   momentum=k["momentum"], weight_decay=k["weight_decay"])

    GOOD_EVERY = 25   # iterations between two copies of the last good weights

    def advance(self) -> None:
        if not all(bool(torch.isfinite(p).all()) for p in self.rbm.parameters()):
            good_step, weights = self.last_good
            self.rbm.load_state_dict(weights)
            self.warn(f"the weights held NaN or inf: restored the last good weights (iteration {good_step})")
        stats = self.trainer.step()
        if stats.diverged:
            self.warn("an update made the weights non-finite and was undone; try a lower learning rate")
        elif (self.step_count + 1) % self.GOOD_EVERY == 0:
            self.last_good = (self.step_count + 1, copy.deepcopy(self.rbm.state_dict()))
        if (self.step_count % self.config["pl_every"]) == 0:
            pl = pseudo_likelihood(self.rbm, self.test[:500], generator=self.generator)
        elif not self.history["pseudo_ll"]:   # the first step after a load: off the training stream
            with untouched(self.generator):
                pl = pseudo_likelihood(self.rbm, self.test[:500], generator=self.generator)
        else:
            pl = self.history["pseudo_ll"][-1]
        self.history.add(step=float(self.step_count + 1), recon_error=float(stats.recon_error), pseudo_ll=float(pl))
        with torch.no_grad():
            _, self.fantasy_view = self.rbm.gibbs(self.fantasy_view, k=1, generator=self.generator,
                                                  temperature=self.knobs["temperature"])
            if self.completion is not None:
                c = self.completion
                c["probs"], c["state"] = self.rbm.gibbs(c["state"], k=1, generator=self.generator,
                                                        temperature=self.knobs["temperature"],
                                                        clamp_mask=c["mask"], clamp_values=c["original"])
        self._poll_ais()

    # --- checkpoints ------------------------------------------------------------------------
    def model_modules(self) -> dict[str, torch.nn.Module]:
        return {"rbm": self.rbm}

    def checkpoint_metrics(self) -> dict[str, float]:
        test_ll = self.ais.get("test_ll")
        return {"test_ll": test_ll} if test_ll is not None and self.ais.get("ais_step") == self.step_count else {}

    def after_load(self) -> None:
        """Fantasy particles from the loaded model, a fresh AIS estimate soon."""
        self.fantasy_view = self.trainer.fantasy.clone()
        self.completion, self.ais_run, self.ais = None, None, {}
        self.ais_refresh.invalidate()

    # --- actions ----------------------------------------------------------------------------
    def action_complete(self, half: str = "bottom", n: int = 8) -> None:
        """Hide ``half`` of ``n`` test digits and let clamped Gibbs sampling fill it in."""
        mask = half_mask(self.shape, half).to(self.device)
        original = self.test[:n].clone()
        noise = torch.rand(original.shape, generator=self.generator, device=self.device) < 0.5
        start = torch.where(mask, original, noise.to(original.dtype))
        self.completion = {"half": half, "mask": mask, "original": original, "state": start,
                           "probs": start.clone(), "masked": torch.where(mask, original, torch.full_like(original, 0.5))}

    def action_refresh_ais(self) -> None:
        self.ais_refresh.invalidate()
        self._poll_ais(force=True)

    # --- AIS, a slice per training step ------------------------------------------------------
    def _poll_ais(self, force: bool = False) -> None:
        if self.ais_run is not None:
            try:
                if self.ais_run.advance(self.config["ais_per_step"]):
                    log_z, std = self.ais_run.estimate()
                    test_ll = rbm_log_likelihood(self.ais_model, self.test, log_z)
                    self.ais = {"log_z": log_z, "log_z_std": std, "test_ll": test_ll, "ais_step": self.ais_step,
                                "ais_error": None}
                    self.ais_run = None
            except Exception as exc:   # reported in the page, never raised
                self.ais = {**self.ais, "ais_error": f"{type(exc).__name__}: {exc}"}
                self.ais_run = None
            return
        due = force or self.ais_refresh.elapsed()
        if due and self.step_count > 0:
            self.ais_model = copy.deepcopy(self.rbm)
            self.ais_step = self.step_count
            self.ais_refresh.mark(self.step_count)
            self.ais_run = AISRun(self.ais_model, self.config["ais_chains"], self.config["ais_betas"],
                                  generator=self.generator, base_visible_bias=self.base_bias)

    # --- snapshot ---------------------------------------------------------------------------
    def _images(self, flat: torch.Tensor, cols: int, normalize: str = "none") -> np.ndarray:
        return tile(to_numpy(flat).reshape(-1, *self.shape), cols=cols, normalize=normalize)

    def _reconstructions(self) -> np.ndarray:
        with torch.no_grad():
            recon = self.rbm.reconstruct(self.shown)
        pairs = torch.stack([self.shown, recon], dim=1).reshape(-1, self.shown.shape[1])
        return self._images(pairs, cols=8)

    def _completion(self, c: dict[str, Any]) -> np.ndarray:
        rows = torch.stack([c["original"], c["masked"], c["probs"]], dim=0).reshape(-1, c["original"].shape[1])
        return self._images(rows, cols=len(c["original"]))

    def payload(self) -> dict[str, Any]:
        parts = self.parts
        # the trainer writes the weights through a packed copy, unseen by ``weights_version``: they change
        # with the iterations (a restored or undone update included) and with a loaded checkpoint
        weights = (self.step_count, self.checkpoint_status["loads"])
        fantasy = self.fantasy_view   # replaced by each Gibbs sweep
        out = {
            "shape": self.shape,
            "reconstructions": parts.part("reconstructions", weights, self._reconstructions),
            "filters": parts.part("filters", weights,
                                  lambda: self._images(self.rbm.W.detach().T[:64], cols=8, normalize="each")),
            "fantasy": parts.part("fantasy", same_object(fantasy), lambda: self._images(fantasy, cols=6)),
            "history": self.history.arrays(),
            **self.ais,
        }
        if self.completion is not None:
            c = self.completion
            # a sweep replaces the probabilities, a new completion all of it
            out["completion"] = parts.part("completion", same_object(c["probs"]), lambda: self._completion(c))
            out["completion_half"] = c["half"]
        return out
