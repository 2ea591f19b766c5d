"""Images job: a ConvEBM, or an EBM + generator, learning to generate digits, live.

Each ``step()`` is one training iteration; while the page plays, a ConvEBM iteration's Langevin chains
run in slices, and snapshots between slices show them moving. Snapshots carry mosaics of the current samples, the
replay buffer (ConvEBM) or the generator's raw proposals beside their Langevin-refined versions
(EBM + generator), curves of the data and sample energies and the loss, and the sample quality
(Fréchet distance and inception score from the digit classifier of ``metrics.sample_quality``).

Sample quality is measured in the background: the classifier is loaded (shipped for the 8×8 digits)
or fitted in a worker thread once per data set, and every ``quality_every_s`` seconds a frozen copy
of the model runs a fresh short-run chain a few Langevin steps per training step, so training never
waits for it.

The first Play of a fresh page continues from the shipped ConvEBM when it fits the settings
(``FIRST_PLAY``); a weights-only checkpoint brings no replay buffer, so a loaded ConvEBM first
settles one (``BufferSettling``, about a second, shown as the current samples).

"Generate from noise" (the ``generate`` action) starts a fresh short-run chain with the current
knobs; ``animate()`` moves it one Langevin step per frame, also while training is paused.
"""
from __future__ import annotations

import copy
import threading
import time
from collections import deque
from typing import Any

import numpy as np
import torch

from ebm_engine.data.digits import DigitSplit, load_digits_grey
from ebm_engine.data.idx import load_mnist_folder
from ebm_engine.data.paths import resolve_user_path
from ebm_engine.device import make_generator
from ebm_engine.metrics.sample_quality import SampleQuality
from ebm_engine.models.conv_ebm import ConvEBM
from ebm_engine.models.image_generator import ImageGenerator
from ebm_engine.runtime.job import Job, to_numpy
from ebm_engine.runtime.jobs.buffer_settling import BufferSettling
from ebm_engine.runtime.jobs.curve_tail import curve_tail
from ebm_engine.runtime.knobs import KnobSpec
from ebm_engine.runtime.mosaic import tile
from ebm_engine.runtime.training_state import untouched
from ebm_engine.samplers.short_run import ShortRunChain, noise_images
from ebm_engine.training.ebm_generator import EBMGeneratorConfig, EBMGeneratorTrainer
from ebm_engine.training.image_recipes import image_batches, image_cd_trainer, lab_image_config

MODELS = ("conv_ebm", "ebm_generator")


class QualityRun:
    """A fresh short-run chain on a frozen copy of the model, advanced a slice at a time, then scored."""

    def __init__(self, chain: ShortRunChain, steps: int, step: int, extra: dict[str, np.ndarray]):
        self.chain, self.steps, self.step, self.extra = chain, steps, step, extra

    def advance(self, n: int) -> bool:
        """Run up to ``n`` more Langevin steps; True when the chain has finished."""
        remaining = self.steps - self.chain.steps_done
        if remaining > 0:
            self.chain.step(min(n, remaining))
        return self.chain.steps_done >= self.steps


class ImagesJob(Job):
    """ConvEBM (CD with a replay buffer) or EBM + generator on digit images, with live sample quality."""

    KIND = "images"
    CONFIG = {"model": "conv_ebm", "dataset": "digits", "mnist_folder": "", "mnist_limit": 10000, "seed": 0,
              "width": 32, "depth": 1, "activation": "swish", "spectral_norm": False, "checkpointing": False,
              "batch_size": 128, "buffer_size": 10000, "n_show": 36, "quality_every_s": 10.0,
              "quality_samples": 500, "quality_steps_per_step": 3, "generate_chains": 36,
              "settle_chains": 256, "settle_steps": 60}
    KNOBS = [
        KnobSpec("lr", 1e-3, low=1e-5, high=1e-1, log_scale=True, label="Learning rate"),
        KnobSpec("langevin_steps", 20, kind="int", low=0, high=200, label="SGLD steps"),
        KnobSpec("step_size", 1.0, low=1e-3, high=100.0, log_scale=True, label="Step size"),
        KnobSpec("noise_scale", 0.01, low=0.0, high=0.5, label="Noise scale"),
        KnobSpec("reinit_fraction", 0.05, low=0.0, high=1.0, label="Buffer re-init fraction"),
        KnobSpec("temperature", 1.0, low=0.05, high=10.0, log_scale=True, label="Temperature"),
        KnobSpec("l2_weight", 0.1, low=0.0, high=10.0, label="L2 energy penalty"),
        KnobSpec("entropy_weight", 0.05, low=0.0, high=10.0, label="Generator entropy weight"),
        KnobSpec("generate_steps", 60, kind="int", low=1, high=1000, label="Generation steps"),
    ]
    ACTIONS = ("generate", "measure_quality")
    CHECKPOINT_MODELS = MODELS
    MODEL_ARGS = ("width", "depth", "activation", "spectral_norm")
    RESTORED_CONFIG = ("model",)
    FIRST_PLAY = "pretrained"

    # --- building ---------------------------------------------------------------------------
    def build(self) -> None:
        cfg = self.config
        if cfg["model"] not in MODELS:
            raise ValueError(f"unknown model {cfg['model']!r}; choose one of {MODELS}")
        self.split = self._load_data()
        self.shape = tuple(self.split.shape)
        self.train = self.split.train.reshape(-1, 1, *self.shape).to(self.device)
        self.generator = make_generator(int(cfg["seed"]), self.device)
        with torch.random.fork_rng(devices=[]):   # seeded layer initialisation; the global RNG is restored
            torch.manual_seed(int(cfg["seed"]))
            self.energy = ConvEBM(self.shape, width=int(cfg["width"]), depth=int(cfg["depth"]),
                                  activation=cfg["activation"], spectral_norm=bool(cfg["spectral_norm"]),
                                  checkpointing=bool(cfg["checkpointing"])).to(self.device)
            generator_net = ImageGenerator(self.shape).to(self.device) if cfg["model"] == "ebm_generator" else None
        if cfg["model"] == "conv_ebm":
            self.generator_net = None
            self.trainer = image_cd_trainer(self.energy, self.train,
                                            lab_image_config(batch_size=int(cfg["batch_size"]),
                                                             buffer_size=int(cfg["buffer_size"])),
                                            self.generator)
        else:
            self.generator_net = generator_net
            self.trainer = EBMGeneratorTrainer(self.energy, self.generator_net, image_batches(self.train),
                                               EBMGeneratorConfig(batch_size=int(cfg["batch_size"])), self.generator)
        self.history = {k: deque(maxlen=5000) for k in ("step", "e_data", "e_samples", "loss")}
        self.quality_history = {k: deque(maxlen=2000) for k in
                                ("step", "fid", "inception_score", "fid_other", "inception_score_other")}
        self.quality: dict[str, Any] = {}
        self.quality_run: QualityRun | None = None
        self.quality_started = 0.0
        self.generation: ShortRunChain | None = None
        self.generation_steps = 0
        self.settling: BufferSettling | None = None
        self.scorer: SampleQuality | None = None
        self.scorer_error: str | None = None
        self._start_scorer()
        self.on_knobs(self.knobs.as_dict())

    def _load_data(self) -> DigitSplit:
        cfg = self.config
        if cfg["dataset"] == "digits":
            return load_digits_grey(seed=int(cfg["seed"]))
        if cfg["dataset"] == "mnist":
            if not cfg["mnist_folder"]:
                raise ValueError("name a folder with MNIST-format IDX files first")
            return load_mnist_folder(resolve_user_path(cfg["mnist_folder"]), binarize=False,
                                     limit=int(cfg["mnist_limit"]))
        raise ValueError(f"unknown data set {cfg['dataset']!r}; choose 'digits' or 'mnist'")

    def _start_scorer(self) -> None:
        """Load (or fit) the digit classifier in a worker thread."""
        split = self.split

        def fit() -> None:
            try:
                self.scorer = SampleQuality(split)
            except Exception as exc:   # reported in the page, never raised
                self.scorer_error = f"{type(exc).__name__}: {exc}"

        self.scorer_thread = threading.Thread(target=fit, name="digit-classifier", daemon=True)
        self.scorer_thread.start()

    def on_knobs(self, changed: dict[str, Any]) -> None:
        k = self.knobs
        common = dict(lr=k["lr"], step_size=k["step_size"], noise_scale=k["noise_scale"], l2_weight=k["l2_weight"])
        if self.generator_net is None:
            self.trainer.update_config(langevin_steps=k["langevin_steps"], reinit_fraction=k["reinit_fraction"],
                                       sample_temperature=k["temperature"], **common)
        else:
            self.trainer.update_config(refine_steps=k["langevin_steps"], temperature=k["temperature"],
                                       entropy_weight=k["entropy_weight"], **common)

    # --- training ---------------------------------------------------------------------------
    def advance_slice(self, seconds: float) -> bool:
        """ConvEBM: the iteration's Langevin chains a slice at a time (the page shows them moving),
        then its update; the chains take the same steps as in one go. EBM + generator: whole iterations.
        A buffer being settled after a load is finished first, also a slice at a time."""
        if self.settling is not None:
            if self.settling.run(seconds):
                self.settling = None
            return False
        if self.generator_net is None and not self.trainer.sample_for(seconds):
            return False
        self.advance()
        return True

    def settle(self) -> None:
        self._finish_settling()
        if self.generator_net is None and self.trainer.in_flight is not None:
            self.step()

    def _finish_settling(self) -> None:
        if self.settling is not None:
            self.settling.run()
            self.settling = None

    def advance(self) -> None:
        self._finish_settling()
        stats = self.trainer.step()
        if stats.diverged:
            self.warn(f"iteration {self.step_count + 1} diverged (non-finite loss or weights); the model was "
                      f"rolled back to iteration {self.trainer.last_good_step}. Try a smaller learning rate "
                      "or step size.")
        self.history["step"].append(float(self.step_count + 1))
        self.history["e_data"].append(stats.e_data)
        self.history["e_samples"].append(stats.e_neg)
        self.history["loss"].append(stats.loss)
        self._poll_quality()

    # --- sample quality, a slice per training step --------------------------------------------
    def _poll_quality(self, force: bool = False) -> None:
        if self.scorer is None:
            return
        if self.quality_run is not None:
            if self.quality_run.advance(int(self.config["quality_steps_per_step"])):
                self._score(self.quality_run)
                self.quality_run = None
            return
        due = force or time.monotonic() - self.quality_started >= float(self.config["quality_every_s"])
        if due:
            self.quality_started = time.monotonic()
            self.quality_run = self._start_quality_run()

    def _start_quality_run(self) -> QualityRun:
        """ConvEBM: score the replay buffer now and a fresh chain from noise when it ends.
        EBM + generator: score fresh proposals and their refined versions."""
        n, k = int(self.config["quality_samples"]), self.knobs
        energy = copy.deepcopy(self.energy).eval()
        if self.generator_net is None:
            index = torch.randperm(self.trainer.buffer.capacity, generator=self.generator,
                                   device=self.trainer.buffer.store.device)[:n]
            extra = {"buffer": to_numpy(self.trainer.buffer.store[index])}
            if not self.quality:   # nothing measured yet: the buffer's scores now, the chain's when it ends
                self.quality = {**self.scorer.evaluate(extra["buffer"]), "quality_step": self.step_count}
            start = noise_images(n, (1, *self.shape), self.generator, self.device)
            steps = k["generate_steps"]
        else:
            with torch.no_grad():
                start = self.generator_net(self.generator_net.sample_latent(n, self.generator))
            extra = {"proposals": to_numpy(start)}
            steps = k["langevin_steps"]
        chain = ShortRunChain(energy, start, k["step_size"], k["noise_scale"], k["temperature"], (0.0, 1.0),
                              self.generator)
        return QualityRun(chain, steps, self.step_count, extra)

    def _score(self, run: QualityRun) -> None:
        chain_samples = to_numpy(run.chain.x)
        if self.generator_net is None:   # main: the replay buffer; other: short-run from noise
            main, other = run.extra["buffer"], chain_samples
        else:                            # main: refined proposals; other: raw proposals
            main, other = chain_samples, run.extra["proposals"]
        first, second = self.scorer.evaluate(main), self.scorer.evaluate(other)
        self.quality = {"fid": first["fid"], "inception_score": first["inception_score"],
                        "fid_other": second["fid"], "inception_score_other": second["inception_score"],
                        "quality_step": run.step}
        self.quality_history["step"].append(float(max(run.step, 1)))
        for key in ("fid", "inception_score", "fid_other", "inception_score_other"):
            self.quality_history[key].append(float(self.quality[key]))

    # --- checkpoints ------------------------------------------------------------------------
    def model_name(self) -> str:
        return self.config["model"]

    def model_modules(self) -> dict[str, torch.nn.Module]:
        modules = {"energy": self.energy}
        if self.generator_net is not None:
            modules["generator_net"] = self.generator_net
        return modules

    def checkpoint_metrics(self) -> dict[str, float]:
        if self.quality.get("quality_step") != self.step_count:
            return {}
        return {"fid": self.quality["fid"], "inception_score": self.quality["inception_score"]}

    def after_load(self) -> None:
        """Show what the loaded model generates, settle a replay buffer for it if the checkpoint brought
        none, and measure its sample quality soon."""
        self.quality, self.quality_run, self.quality_started = {}, None, 0.0
        with untouched(self.generator):   # the training stream continues where the checkpoint left it
            self.action_generate()
        self.settling = None
        if self.generator_net is None and "replay buffer" not in self.restored_training_state:
            k, cfg = self.knobs, self.config
            self.settling = BufferSettling(self.energy, self.trainer.buffer, int(cfg["settle_chains"]),
                                           int(cfg["settle_steps"]), k["step_size"], k["noise_scale"],
                                           k["temperature"], self.generator)
            self.trainer.in_flight = None

    # --- actions ----------------------------------------------------------------------------
    def action_measure_quality(self) -> None:
        """Start a quality measurement now (it completes over the next training steps)."""
        self.quality_run = None
        self._poll_quality(force=True)

    def action_generate(self, n: int | None = None) -> None:
        """Start a fresh short-run chain with the current knobs; ``animate()`` advances it."""
        n = int(n or self.config["generate_chains"])
        k = self.knobs
        if self.generator_net is None:
            start = noise_images(n, (1, *self.shape), self.generator, self.device)
        else:
            with torch.no_grad():
                start = self.generator_net(self.generator_net.sample_latent(n, self.generator))
        self.generation = ShortRunChain(self.energy, start, k["step_size"], k["noise_scale"], k["temperature"],
                                        (0.0, 1.0), self.generator)
        self.generation_steps = int(k["generate_steps"])

    def animate(self) -> bool:
        """One Langevin step of the running "generate" chain; False when none is running."""
        if self.generation is None or self.generation.steps_done >= self.generation_steps:
            return False
        self.energy.eval()
        self.generation.step()
        return True

    # --- snapshot ---------------------------------------------------------------------------
    def _mosaic(self, images: torch.Tensor | np.ndarray, cols: int = 6) -> np.ndarray:
        array = images if isinstance(images, np.ndarray) else to_numpy(images)
        return tile(array.reshape(-1, *self.shape), cols=cols)

    def payload(self) -> dict[str, Any]:
        n = int(self.config["n_show"])
        out: dict[str, Any] = {
            "model": self.config["model"], "shape": self.shape,
            "history": {k: np.asarray(v, dtype=np.float64) for k, v in self.history.items()},
            "quality_history": {k: np.asarray(v, dtype=np.float64) for k, v in self.quality_history.items()},
            "quality_pending": self.scorer is None or self.quality_run is not None,
            "classifier_accuracy": None if self.scorer is None else self.scorer.classifier.test_accuracy,
            "quality_error": self.scorer_error,
            "divergences": self.trainer.divergences,
            **self.quality,
        }
        if self.settling is not None:    # a loaded ConvEBM settles its buffer: the chains doing it
            out["samples"] = self._mosaic(self.settling.x[:n])
            out["settling_step"], out["settling_steps"] = self.settling.steps_done, self.settling.steps
            out["buffer"] = self._mosaic(self.trainer.buffer.store[:n])
        elif self.generator_net is None:   # the chains in flight while an iteration samples, else its result
            chains = self.trainer.in_flight
            out["samples"] = self._mosaic((self.trainer.last_negatives if chains is None else chains.x)[:n])
            out["chain_step"] = None if chains is None else chains.steps_done
            # the curves' provisional ends: what the iteration in flight would measure if its chains stopped now
            now = self.trainer.provisional()
            out["history_tail"] = curve_tail(self.step_count, chains, int(self.knobs["langevin_steps"]),
                                             now and {"e_data": now["e_data"], "e_samples": now["e_neg"],
                                                      "loss": now["loss"]})
            # the buffer slots the iteration in flight drew (its update writes the chains back there)
            store = self.trainer.buffer.store
            out["buffer"] = self._mosaic(store[:n] if chains is None else store[chains.idx[:n]])
        else:
            proposals, refined = self.trainer.last_proposals, self.trainer.last_refined
            if proposals is None:
                proposals, refined = self.trainer.propose(n)[1:]
            half = max(1, n // 2)
            out["samples"] = self._mosaic(refined[:n])
            pairs = torch.stack([proposals[:half], refined[:half]], dim=1).reshape(-1, 1, *self.shape)
            out["proposals"] = self._mosaic(pairs, cols=6)
        if self.generation is not None:
            out["generation"] = self._mosaic(self.generation.x)
            out["generation_step"] = self.generation.steps_done
            out["generation_steps"] = self.generation_steps
        return out
