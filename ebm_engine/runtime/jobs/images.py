"""What the Images page's two jobs share: digit data, the curves, the background sample-quality runs,
mosaics and "generate from noise". ``images_convebm.ConvEBMJob`` and ``images_generator.EBMGeneratorJob``
say how their model is built and trained and where a fresh Langevin chain starts. Each ``step()`` is one
training iteration.

Sample quality is measured in the background: the classifier is loaded (shipped for the 8×8 digits)
or fitted in a worker thread once per data set, and every ``quality_every_s`` seconds a frozen copy
of the model runs a fresh short-run chain a few Langevin steps per training step, so training never
waits for it.

"Generate from noise" (the ``generate`` action) starts a fresh short-run chain with the current
knobs; ``animate()`` moves it one Langevin step per frame, also while training is paused.
"""
from __future__ import annotations

import copy
import threading
from typing import Any

import numpy as np
import param
import torch

from ebm_engine.data.digits import DigitSplit, load_digits_binary, load_digits_grey
from ebm_engine.data.idx import load_mnist_folder
from ebm_engine.data.paths import resolve_user_path
from ebm_engine.device import make_generator
from ebm_engine.metrics.sample_quality import SampleQuality
from ebm_engine.models.conv_ebm import ACTIVATIONS, ConvEBM
from ebm_engine.runtime.job import Job, to_numpy
from ebm_engine.runtime.refresh import Refresh
from ebm_engine.runtime.views.curves import Curves
from ebm_engine.runtime.controls import KNOB, LOG_KNOB, Controls
from ebm_engine.runtime.mosaic import tile
from ebm_engine.runtime.parts import same_object
from ebm_engine.runtime.training_state import untouched
from ebm_engine.samplers.short_run import ShortRunChain

QUALITY_KEYS = ("fid", "inception_score", "fid_other", "inception_score_other")


def load_digit_data(cfg: dict[str, Any], binarize: bool) -> DigitSplit:
    """The data set the settings name: scikit-learn's 8×8 digits, or MNIST-format files from the user's folder."""
    if cfg["dataset"] == "digits":
        return (load_digits_binary if binarize else load_digits_grey)(seed=cfg["seed"])
    if not cfg["mnist_folder"]:
        raise ValueError("name a folder with MNIST-format IDX files first")
    return load_mnist_folder(resolve_user_path(cfg["mnist_folder"]), binarize=binarize, limit=cfg["mnist_limit"])


class QualityRun:
    """A fresh short-run chain on a frozen copy of the model, advanced a slice at a time, then scored
    beside ``other``, a set drawn when it started."""

    def __init__(self, chain: ShortRunChain, steps: int, step: int, other: np.ndarray):
        self.chain, self.steps, self.step, self.other = chain, steps, step, other

    def advance(self, n: int) -> bool:
        """Run up to ``n`` more Langevin steps; True when the chain has finished."""
        remaining = self.steps - self.chain.steps_done
        if remaining > 0:
            self.chain.step(min(n, remaining))
        return self.chain.steps_done >= self.steps


class DigitDataControls(Controls):
    """The settings ``load_digit_data`` reads (the Images and the RBM page's data set)."""

    dataset = param.Selector(default="digits", objects={"8×8 digits": "digits", "MNIST folder": "mnist"},
                             label="Data set", doc="scikit-learn's 8×8 digits, or MNIST-format IDX files from a folder")
    mnist_folder = param.String(default="", label="MNIST-format folder",
                                doc="folder holding train-images-idx3-ubyte[.gz] and friends")
    mnist_limit = param.Integer(default=10000, bounds=(1, 10_000_000), precedence=-1)


class ImagesControls(DigitDataControls):
    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed")
    width = param.Selector(default=32, objects=[4, 8, 16, 32, 64], label="ConvEBM width",
                           doc="channels of the first convolution stage")
    depth = param.Integer(default=1, bounds=(1, 8), precedence=-1)
    activation = param.Selector(default="swish", objects=list(ACTIVATIONS),
                                precedence=-1)
    spectral_norm = param.Boolean(default=False, label="Spectral norm", doc="spectral normalisation of every layer")
    checkpointing = param.Boolean(default=False, label="Gradient checkpointing (memory-efficient)",
                                  doc="gradient checkpointing: less memory, more time")
    batch_size = param.Integer(default=128, bounds=(1, 100_000), precedence=-1)
    buffer_size = param.Integer(default=10000, bounds=(1, 10_000_000), precedence=-1)
    n_show = param.Integer(default=36, bounds=(1, 1024), precedence=-1)
    quality_every_s = param.Number(default=10.0, bounds=(0.0, None), precedence=-1)
    quality_samples = param.Integer(default=500, bounds=(2, 100_000), precedence=-1)
    quality_steps_per_step = param.Integer(default=3, bounds=(1, 10_000), precedence=-1)
    generate_chains = param.Integer(default=36, bounds=(1, 1024), precedence=-1)
    settle_chains = param.Integer(default=256, bounds=(1, 100_000), precedence=-1)
    settle_steps = param.Integer(default=60, bounds=(0, 100_000), precedence=-1)

    lr = param.Number(default=1e-3, bounds=(1e-5, 1e-1), softbounds=(1e-5, 1e-2), label="Learning rate",
                      metadata=LOG_KNOB)
    langevin_steps = param.Integer(default=20, bounds=(0, 200), softbounds=(0, 100), label="SGLD steps",
                                   doc="SGLD steps per iteration", metadata=KNOB)
    step_size = param.Number(default=1.0, bounds=(1e-3, 100.0), softbounds=(0.01, 100.0), label="Step size",
                             doc="SGLD step size on the energy gradient", metadata=LOG_KNOB)
    noise_scale = param.Number(default=0.01, bounds=(0.0, 0.5), softbounds=(0.0, 0.1), step=0.001,
                               label="Noise scale", doc="SGLD noise standard deviation", metadata=KNOB)
    reinit_fraction = param.Number(default=0.05, bounds=(0.0, 1.0), step=0.01, label="Buffer re-init fraction",
                                   doc="share of chains restarted from noise at each iteration", metadata=KNOB)
    temperature = param.Number(default=1.0, bounds=(0.05, 10.0), softbounds=(0.1, 5.0), step=0.05,
                               label="Temperature", metadata=KNOB)
    l2_weight = param.Number(default=0.1, bounds=(0.0, 10.0), step=0.01, label="L2 energy penalty", metadata=KNOB)
    entropy_weight = param.Number(default=0.05, bounds=(0.0, 10.0), step=0.01, label="Generator entropy weight",
                                  metadata=KNOB)
    generate_steps = param.Integer(default=60, bounds=(1, 1000), softbounds=(1, 300), label="Generation steps",
                                   metadata=KNOB)


class ImagesJobBase(Job):
    """A ConvEBM energy on digit images with live sample quality; subclasses add the way it is trained."""

    CONTROLS = ImagesControls
    ACTIONS = ("generate", "measure_quality")
    MODEL_ARGS = ("width", "depth", "activation", "spectral_norm")
    FIRST_PLAY = "pretrained"

    # --- what a model provides, besides ``make_trainer()`` and ``start_quality_run()`` --------------
    def make_networks(self) -> None:
        """Networks besides the energy, made in the same seeded block right after it (default: none)."""

    def chain_start(self, n: int) -> torch.Tensor:
        """``n`` starts of a fresh Langevin chain, shaped ``(n, 1, h, w)``."""
        raise NotImplementedError

    def sampling_steps(self) -> int:
        """The Langevin steps that turn a ``chain_start`` into a sample."""
        raise NotImplementedError

    # whether a quality run's chain is the first of the page's two quality curves (else its ``other`` set)
    QUALITY_CHAIN_FIRST = True

    def model_views(self, n: int) -> dict[str, Any]:
        """The model's mosaics of the snapshot (``samples`` and its own grids)."""
        raise NotImplementedError

    # --- building ---------------------------------------------------------------------------
    def build(self) -> None:
        cfg = self.config
        self.split = load_digit_data(cfg, binarize=False)
        self.shape = tuple(self.split.shape)
        self.train = self.split.train.reshape(-1, 1, *self.shape).to(self.device)
        self.generator = make_generator(cfg["seed"], self.device)
        with torch.random.fork_rng(devices=[]):   # seeded layer initialisation; the global RNG is restored
            torch.manual_seed(cfg["seed"])
            self.energy = ConvEBM(self.shape, width=cfg["width"], depth=cfg["depth"], activation=cfg["activation"],
                                  spectral_norm=cfg["spectral_norm"], checkpointing=cfg["checkpointing"])
            self.energy.to(self.device)
            self.make_networks()
        self.trainer = self.make_trainer()
        self.history = Curves(("step", "e_data", "e_samples", "loss"), 5000)
        self.quality_history = Curves(("step", *QUALITY_KEYS), 2000)
        self.quality: dict[str, Any] = {}
        self.quality_run: QualityRun | None = None
        self.quality_refresh = Refresh(lambda: self.config["quality_every_s"])
        self.generation: ShortRunChain | None = None
        self.generation_steps = 0
        self.scorer: SampleQuality | None = None
        self.scorer_error: str | None = None
        self._start_scorer()
        self.on_knobs(self.knobs.as_dict())

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

    # --- training ---------------------------------------------------------------------------
    def advance(self) -> None:
        stats = self.trainer.step()
        self.warn_if_diverged(stats, self.trainer)
        self.history.add(step=float(self.step_count + 1), e_data=stats.e_data, e_samples=stats.e_neg,
                         loss=stats.loss)
        self._poll_quality()

    # --- sample quality, a slice per training step --------------------------------------------
    def _poll_quality(self, force: bool = False) -> None:
        if self.scorer is None:
            return
        if self.quality_run is not None:
            if self.quality_run.advance(self.config["quality_steps_per_step"]):
                self._score(self.quality_run)
                self.quality_run = None
            return
        if force or self.quality_refresh.elapsed():
            self.quality_refresh.mark(self.step_count)
            self.quality_run = self.start_quality_run()

    def quality_run_from(self, start: torch.Tensor, other: np.ndarray) -> QualityRun:
        """A run of ``sampling_steps()`` from ``start`` on a frozen copy of the energy."""
        k = self.knobs
        energy = copy.deepcopy(self.energy).eval()
        chain = ShortRunChain(energy, start, k["step_size"], k["noise_scale"], k["temperature"], (0.0, 1.0),
                              self.generator)
        return QualityRun(chain, self.sampling_steps(), self.step_count, other)

    def _score(self, run: QualityRun) -> None:
        chain = to_numpy(run.chain.x)
        main, other = (chain, run.other) if self.QUALITY_CHAIN_FIRST else (run.other, chain)
        first, second = self.scorer.evaluate(main), self.scorer.evaluate(other)
        self.quality = {"fid": first["fid"], "inception_score": first["inception_score"],
                        "fid_other": second["fid"], "inception_score_other": second["inception_score"],
                        "quality_step": run.step}
        self.quality_history.add(step=float(max(run.step, 1)), **{k: float(self.quality[k]) for k in QUALITY_KEYS})

    # --- checkpoints ------------------------------------------------------------------------
    def model_modules(self) -> dict[str, torch.nn.Module]:
        return {"energy": self.energy}

    def checkpoint_metrics(self) -> dict[str, float]:
        if self.quality.get("quality_step") != self.step_count:
            return {}
        return {"fid": self.quality["fid"], "inception_score": self.quality["inception_score"]}

    def after_load(self) -> None:
        """Show what the loaded model generates and measure its sample quality soon."""
        self.quality, self.quality_run = {}, None
        self.quality_refresh.invalidate()
        with untouched(self.generator):   # the training stream continues where the checkpoint left it
            self.action_generate()

    # --- actions ----------------------------------------------------------------------------
    def action_measure_quality(self) -> None:
        """Start a quality measurement now (it completes over the next training steps)."""
        self.quality_run = None
        self._poll_quality(force=True)

    def action_generate(self, n: int | None = None) -> None:
        """Start a fresh short-run chain with the current knobs; ``animate()`` advances it."""
        k = self.knobs
        start = self.chain_start(int(n or self.config["generate_chains"]))
        self.generation = ShortRunChain(self.energy, start, k["step_size"], k["noise_scale"], k["temperature"],
                                        (0.0, 1.0), self.generator)
        self.generation_steps = k["generate_steps"]

    def animate(self) -> bool:
        """One Langevin step of the running "generate" chain; False when none is running."""
        if self.generation is None or self.generation.steps_done >= self.generation_steps:
            return False
        self.energy.eval()
        self.generation.step()
        return True

    # --- snapshot ---------------------------------------------------------------------------
    def _mosaic(self, images: torch.Tensor, cols: int = 6) -> np.ndarray:
        return tile(to_numpy(images).reshape(-1, *self.shape), cols=cols)

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model_name(), "shape": self.shape,
            "history": self.history.arrays(),
            "quality_history": self.quality_history.arrays(),
            "classifier_accuracy": None if self.scorer is None else self.scorer.classifier.test_accuracy,
            "quality_error": self.scorer_error,
            "divergences": self.trainer.divergences,
            **self.quality,
            **self.model_views(self.config["n_show"]),
        }
        generation = self.generation
        if generation is not None:
            # each Langevin step gives the chain a new state; a new "generate" a new chain
            out["generation"] = self.parts.part("generation", same_object(generation.x),
                                                lambda: self._mosaic(generation.x))
            out["generation_step"] = generation.steps_done
        return out
