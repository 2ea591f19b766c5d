"""JEM & OOD job: train a JEM (or the plain classifier) on digits and score OOD sets live.

Each ``step()`` is one training iteration plus a few SGLD steps of the class-conditional sample
chains; while the page plays, an iteration's SGLD negatives run in slices, and the sample chains
move a step between slices. About once a second (and at once when the score or temperature changes) the job scores the
in-distribution test digits and every OOD set; between those evaluations each snapshot rescores a
slice of every set (a tenth by default) with the current weights, so the histograms follow training
at the frame rate while the metrics table keeps to the evaluations. The snapshot carries: histograms of the chosen score
on shared bins; the acceptance / detection rates at every distinct score (they change only there, so
the page can move a threshold and read exact rates without asking the engine); AUROC / AUPR / FPR95
of the energy and softmax scores per OOD set; test accuracy; the class-conditional samples; and the
score of an image the user uploaded or drew. The scoring itself is ``ood_scoring.OODScoring``.
"""
from __future__ import annotations

import copy
import time
from collections import deque
from typing import Any

import numpy as np
import torch

from ebm_engine.data.digits import load_digits_grey
from ebm_engine.data.paths import resolve_user_path
from ebm_engine.data.ood import OOD_SET_LABELS, OOD_SET_NAMES, load_user_images, make_ood_set
from ebm_engine.data.user_image import UserImageError, decode_png, rasterize_strokes
from ebm_engine.device import make_generator
from ebm_engine.metrics.ood import SCORE_LABELS, SCORES
from ebm_engine.models.jem import JEM, ClassConditionalEnergy
from ebm_engine.runtime.job import Job, to_numpy
from ebm_engine.runtime.jobs.curve_tail import curve_tail
from ebm_engine.runtime.jobs.ood_scoring import OODScoring
from ebm_engine.runtime.knobs import KnobSpec
from ebm_engine.runtime.mosaic import tile
from ebm_engine.runtime.training_state import untouched
from ebm_engine.training.jem_trainer import JEMConfig, JEMTrainer, frozen_sgld

MODELS = ("jem", "classifier", "images_conv_ebm")
IMAGES_JOB = "images"   # the job id of the Images page, whose ConvEBM this page can score with
SAMPLE_CLASSES = ("all",) + tuple(str(k) for k in range(10))
HISTORY = 5000


class JEMJob(OODScoring, Job):
    """JEM (cross-entropy + SGLD generative term) or plain-classifier training with live OOD scoring."""

    KIND = "jem"
    CONFIG = {"model": "jem", "seed": 0, "width": 32, "batch_size": 64, "buffer_size": 5000,
              "eval_every_s": 1.0, "bins": 40, "samples_per_class": 6, "sample_steps": 4,
              "n_examples": 8, "rescore_slices": 10}
    KNOBS = [
        KnobSpec("lr", 1e-3, low=1e-5, high=0.1, log_scale=True, label="Learning rate"),
        KnobSpec("sgld_steps", 20, kind="int", low=1, high=100, label="SGLD steps per iteration"),
        KnobSpec("l2_weight", 0.1, low=0.0, high=1.0, label="Energy L2 weight"),
        KnobSpec("score", "energy", kind="choice", choices=SCORES, label="OOD score"),
        KnobSpec("temperature", 1.0, low=0.01, high=100.0, log_scale=True, label="Energy temperature T"),
        KnobSpec("sample_class", "all", kind="choice", choices=SAMPLE_CLASSES, label="Sample class"),
    ]
    ACTIONS = ("probe_png", "probe_strokes", "clear_probe", "load_ood_set", "resample", "evaluate")
    CHECKPOINT_MODELS = ("jem",)
    MODEL_ARGS = ("width",)
    DATA_KEY = None
    DATA_NAME = "digits"
    RESTORED_CONFIG = ("model",)

    def build(self) -> None:
        cfg = self.config
        if cfg["model"] not in MODELS:
            raise ValueError(f"unknown model {cfg['model']!r}; choose from {list(MODELS)}")
        seed = int(cfg["seed"])
        split = load_digits_grey(seed=0)
        self.shape = tuple(split.shape)
        self.train = split.train.to(self.device)
        self.test = split.test.to(self.device)
        self.test_labels = split.test_labels.to(self.device)
        self.generator = make_generator(seed, self.device)
        self.display_generator = make_generator(seed + 1, self.device)   # the samples' steps between slices
        with torch.random.fork_rng(devices=[]):   # reproducible weights, global generator untouched
            torch.manual_seed(seed)
            self.model = JEM(self.shape, n_classes=10, width=int(cfg["width"])).to(self.device)
        self.borrowed = cfg["model"] == "images_conv_ebm"
        if self.borrowed:
            self.model = self._borrow_images_model()
        generative = cfg["model"] == "jem"
        self.trainer = None if self.borrowed else JEMTrainer(self.model, self.train, split.train_labels.to(self.device),
                                  JEMConfig(batch_size=int(cfg["batch_size"]), buffer_size=int(cfg["buffer_size"]),
                                            generative_weight=1.0 if generative else 0.0),
                                  generator=self.generator)
        self.ood = {name: make_ood_set(name, split.test, self.shape, seed=seed).to(self.device)
                    for name in OOD_SET_NAMES}
        self.user_set_name: str | None = None
        self.history = {k: deque(maxlen=HISTORY) for k in ("step", "cross_entropy", "e_data", "e_neg")}
        self.eval_history = {k: deque(maxlen=HISTORY) for k in ("step", "test_accuracy")}
        self.evaluation: dict[str, Any] = {}
        self.kept_outputs: dict[str, tuple] = {}   # per scored set: (weights it was made with, logits)
        self.slice_weights: list[tuple | None] = []   # per slice of the sets: the weights that scored it
        self.rescore_slice = 0                         # where the next rescoring starts looking
        self.rolling_accuracy: dict[str, float] | None = None   # the accuracy of the rescored logits, at its step
        self.metrics_due = False
        self.last_eval = -float("inf")
        self.probe_image: torch.Tensor | None = None
        self.probe_source = ""
        self.probe_error: str | None = None
        self._start_samples()
        self.on_knobs(self.knobs.as_dict())
        self.evaluate()

    # --- knobs -------------------------------------------------------------------------------
    def _borrow_images_model(self) -> torch.nn.Module:
        """A frozen copy of the ConvEBM the Images page has trained (taken at build; Reset takes it again)."""
        images = self.peers().get(IMAGES_JOB)
        if images is None or images.step_count == 0:
            raise ValueError("no trained ConvEBM yet: open the Images page and train a model there first")
        if tuple(images.shape) != self.shape:
            raise ValueError(f"the Images page's ConvEBM works on {images.shape[0]}×{images.shape[1]} images; "
                             f"this page scores {self.shape[0]}×{self.shape[1]} digits")
        model = copy.deepcopy(images.energy).to(self.device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.borrowed_step = int(images.step_count)
        return model

    def on_knobs(self, changed: dict[str, Any]) -> None:
        k = self.knobs
        if self.trainer is not None:
            self.trainer.update_config(lr=k["lr"], sgld_steps=k["sgld_steps"], l2_weight=k["l2_weight"])
        if "sample_class" in changed and hasattr(self, "samples"):
            self._start_samples()
        if ("score" in changed or "temperature" in changed) and self.evaluation:
            # the histograms at once; the AUROC/AUPR/FPR95 table (12 scikit-learn calls) once the knob rests
            self.evaluate(metrics=not self.wait_for_knobs(), fresh=False)

    # --- training and sampling ---------------------------------------------------------------
    def advance_slice(self, seconds: float) -> bool:
        """An iteration's SGLD negatives a slice at a time (the same draws as in one go), then its update.
        Between slices the class-conditional samples take one more step, with noise from their own
        stream, so they keep moving on the page while the training stream stays what it would be."""
        if self.trainer is None or self.trainer.sample_for(seconds):
            self.advance()
            return True
        self.samples = self._sgld(self.sample_energy, self.samples, 1, self.display_generator)
        return False

    def settle(self) -> None:
        if self.trainer is not None and self.trainer.in_flight is not None:
            self.step()

    def advance(self) -> None:
        if self.borrowed:   # nothing to train here: keep sampling and scoring the borrowed energy
            self.samples = self._sgld(self.sample_energy, self.samples, int(self.config["sample_steps"]))
            return
        stats = self.trainer.step()
        self.history["step"].append(float(self.step_count + 1))
        self.history["cross_entropy"].append(stats.cross_entropy)
        self.history["e_data"].append(stats.e_data)
        self.history["e_neg"].append(stats.e_neg if self.config["model"] == "jem" else float("nan"))
        if stats.diverged:
            self.warn(f"training diverged at iteration {self.step_count + 1}; rolled back to the weights of "
                      f"iteration {self.trainer.last_good_step} and refilled the replay buffer")
        self.samples = self._sgld(self.sample_energy, self.samples, int(self.config["sample_steps"]))

    def _sgld(self, energy, x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.trainer is not None:
            return self.trainer.sgld(energy, x, steps, generator)
        return frozen_sgld(self.model, energy, x, steps, JEMConfig(), generator or self.generator)

    def _start_samples(self) -> None:
        """Class-conditional chains: ``samples_per_class`` per digit, or 36 of the chosen class,
        started from the replay buffer (JEM) or uniform noise (plain classifier). The borrowed ConvEBM
        has no classes: its 60 chains sample ``p(x)`` from uniform noise."""
        if self.borrowed:
            n = 10 * int(self.config["samples_per_class"])
            self.sample_labels = torch.full((n,), -1, dtype=torch.long, device=self.device)
            self.sample_energy = self.model
            lo, hi = JEMConfig().pixel_range
            self.samples = lo + (hi - lo) * torch.rand(n, self.train.shape[1], generator=self.generator,
                                                        device=self.generator.device).to(self.device)
            return
        choice = self.knobs["sample_class"]
        if choice == "all":
            per = int(self.config["samples_per_class"])
            labels = torch.arange(10, device=self.device).repeat_interleave(per)
        else:
            labels = torch.full((36,), int(choice), dtype=torch.long, device=self.device)
        if self.config["model"] == "jem":
            idx = torch.randint(self.trainer.buffer.capacity, (len(labels),), generator=self.generator,
                                device=self.generator.device).to(self.device)
            start = self.trainer.buffer.store[idx].clone()
        else:
            start = self.trainer.fresh_noise(len(labels), self.generator)
        self.sample_labels = labels
        self.sample_energy = ClassConditionalEnergy(self.model, labels)
        self.samples = start

    # --- checkpoints -------------------------------------------------------------------------
    def model_modules(self) -> dict[str, torch.nn.Module]:
        return {"model": self.model}

    def checkpoint_metrics(self) -> dict[str, float]:
        ev = self.evaluation
        if not ev or ev.get("eval_step") != self.step_count:
            return {}
        out = {"test_accuracy": ev["accuracy"]}
        out.update({f"auroc_{name}": m["energy"]["auroc"] for name, m in ev["metrics"].items()})
        return out

    def action_save_checkpoint(self, checkpoint: str = "") -> None:
        """Save the JEM or classifier; the borrowed ConvEBM belongs to the Images page and is saved there."""
        if self.borrowed:
            return self._checkpoint_result(False, "Not saved: this page only borrows the Images page's ConvEBM; "
                                                  "save it from the Images page")
        super().action_save_checkpoint(checkpoint)

    def after_load(self) -> None:
        """Samples from the loaded model's buffer and its OOD scores at once."""
        with untouched(self.generator):   # the training stream continues where the checkpoint left it
            self._start_samples()
        self.evaluate()

    # --- actions -----------------------------------------------------------------------------
    def action_probe_png(self, data: bytes = b"", filename: str = "") -> None:
        """Score an uploaded PNG (a bad file is reported in the snapshot, not raised)."""
        try:
            self._set_probe(decode_png(data, self.shape), filename or "uploaded PNG")
        except UserImageError as exc:
            self.probe_image, self.probe_error = None, str(exc)

    def action_probe_strokes(self, xs: list | None = None, ys: list | None = None) -> None:
        """Score a drawing given as strokes on a unit canvas."""
        try:
            self._set_probe(rasterize_strokes(xs or [], ys or [], self.shape), "drawing")
        except UserImageError as exc:
            self.probe_image, self.probe_error = None, str(exc)

    def _set_probe(self, row: np.ndarray, source: str) -> None:
        self.probe_image = torch.from_numpy(row).to(self.device).reshape(1, -1)
        self.probe_source, self.probe_error = source, None

    def action_clear_probe(self) -> None:
        self.probe_image, self.probe_error = None, None

    def action_load_ood_set(self, path: str = "") -> None:
        """Add (or replace) the user's own OOD set from a .npy file, an IDX file or an MNIST folder."""
        images = load_user_images(resolve_user_path(path) if str(path).strip() else "", self.shape)
        self.ood["user"] = images.to(self.device)
        self.user_set_name = str(path)
        self.evaluate()

    def action_resample(self) -> None:
        self._start_samples()

    def action_evaluate(self) -> None:
        self.evaluate()

    # --- snapshot ----------------------------------------------------------------------------
    def _score_label(self, score: str) -> str:
        if self.borrowed and score == "energy":
            return "energy E(x) of the Images page's ConvEBM"
        return SCORE_LABELS[score]

    def _probe(self) -> dict[str, Any] | None:
        if self.probe_image is None:
            return None
        k = self.knobs
        s = self._scores(self.probe_image, float(k["temperature"]), k["score"] == "gradnorm")
        if self.borrowed:
            probs = torch.full((10,), float("nan"))
        else:
            with torch.no_grad():
                probs = torch.softmax(self.model.logits(self.probe_image), dim=1)[0]
        threshold = self.evaluation.get("threshold95", float("nan"))
        value = float(s[k["score"]][0])
        return {"image": tile(to_numpy(self.probe_image).reshape(1, *self.shape)), "score": value,
                "energy": float(s["energy"][0]), "prediction": -1 if self.borrowed else int(probs.argmax()),
                "probability": float(probs.max()), "flagged_at_95": bool(value > threshold),
                "source": self.probe_source}

    def on_pause(self) -> None:
        """Paused, the page shows a full evaluation of the weights it stopped at (the next snapshot
        makes it), not rescored slices still on their way to them."""
        if self.evaluation:
            self.metrics_due = True

    def _history_tail(self) -> dict[str, float] | None:
        """The E(SGLD samples) curve's provisional end: the mean energy of the chains in flight."""
        chains = self.trainer.in_flight[1] if self.trainer is not None and self.trainer.in_flight else None
        return curve_tail(self.step_count, chains, int(self.knobs["sgld_steps"]),
                          chains and {"e_neg": float(chains.state.energy.mean())})

    def payload(self) -> dict[str, Any]:
        # the OOD scores of the current weights, every ``eval_every_s``: a readout of the snapshot (it gives
        # way to a waiting command), not part of a training step
        due = time.monotonic() - self.last_eval >= float(self.config["eval_every_s"])
        if (self.metrics_due or due) and not self.wait_for_knobs():
            self.readout(self.evaluate)
        elif (part := self._stale_slice()) is not None:
            self._rescore_slice(part)
        ev = self.evaluation
        names = list(self.ood)
        examples = torch.cat([self.test[: self.config["n_examples"]]] +
                             [self.ood[n][: self.config["n_examples"]] for n in names])
        return {
            "shape": self.shape,
            "model": self.config["model"],
            "score": ev["score"], "score_label": self._score_label(ev["score"]),
            "borrowed_step": self.borrowed_step if self.borrowed else None, "temperature": ev["temperature"],
            "eval_step": ev["eval_step"], "accuracy": ev["accuracy"],
            "edges": ev["edges"], "hist_id": ev["hist_id"], "hist_sets": ev["hist_sets"],
            "thresholds": ev["thresholds"], "rates": ev["rates"], "threshold95": ev["threshold95"],
            "metrics": ev["metrics"],
            "ood_sets": names,
            "ood_labels": {n: OOD_SET_LABELS[n] for n in names},
            "user_set": self.user_set_name,
            "examples": tile(to_numpy(examples).reshape(-1, *self.shape), cols=int(self.config["n_examples"])),
            "example_rows": ["test digits"] + [OOD_SET_LABELS[n] for n in names],
            "samples": tile(to_numpy(self.samples).reshape(-1, *self.shape),
                            cols=int(self.config["samples_per_class"]) if self.knobs["sample_class"] == "all" else 6),
            "sample_class": self.knobs["sample_class"],
            "history": {k: np.asarray(v, dtype=np.float64) for k, v in self.history.items()},
            "eval_history": {k: np.asarray(v, dtype=np.float64) for k, v in self.eval_history.items()},
            "history_tail": self._history_tail(),
            "rolling_accuracy": self.rolling_accuracy,
            "epoch": self.trainer.epoch if self.trainer is not None else 0,
            "divergences": self.trainer.divergences if self.trainer is not None else 0,
            "probe": self._probe(),
            "probe_error": self.probe_error,
        }
