"""Every model of the lab by name: how to build, train, sample and evaluate it, headless.

A model is trained by the very job the app's page runs (``ebm_engine.runtime.jobs``), so the CLI,
the app and a checkpoint agree on what "the ConvEBM" is: ``build_job`` makes the job with the
live extras (readouts, background quality and AIS runs) turned off, ``train`` calls its ``step()``,
and a checkpoint is the job's ``model_state()`` plus ``checkpoint_header()``. ``evaluate``
reports the figure the bench files report, deterministically for a given seed.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ebm_engine.checkpoints import CheckpointError, load_checkpoint
from ebm_engine.data import toy2d
from ebm_engine.metrics.partition import energy_on_grid, grid_nll, log_partition_grid
from ebm_engine.metrics.rbm_likelihood import rbm_log_likelihood
from ebm_engine.metrics.rbm_partition import AISRun
from ebm_engine.metrics.sample_quality import SampleQuality
from ebm_engine.models.jem import ClassConditionalEnergy
from ebm_engine.models.noise_conditional_ebm import NoiseConditionalEBM
from ebm_engine.runtime.job import Job, to_numpy
from ebm_engine.runtime.jobs.symmetry_latents import SYMMETRIC_SETS
from ebm_engine.runtime.registry import job_class
from ebm_engine.samplers.short_run import ShortRunChain

NEVER = 1e12   # seconds: "not during headless work" for the jobs' live refresh intervals


class CatalogError(ValueError):
    """An unknown model or data set, or settings that do not fit; the message is one line."""


@dataclass(frozen=True)
class ModelEntry:
    """One model of the lab: the job that trains it and how to measure and sample it."""

    name: str
    summary: str
    job_kind: str
    datasets: tuple[str, ...]
    figure: str                                  # what ``evaluate`` reports, in words
    evaluate: Callable[[Job], dict[str, float]]
    sample: Callable[[Job, int, int | None], np.ndarray]
    fixed_config: dict[str, Any] = field(default_factory=dict)     # settings that select this model
    headless_config: dict[str, Any] = field(default_factory=dict)  # live extras off


# --- evaluation: the figures of the bench files ------------------------------------------------
def _with_true_nll(out: dict[str, float], true_nll: float | None) -> dict[str, float]:
    """``out`` with the data's own NLL beside the model's, where the data's density is known."""
    return out if true_nll is None else {**out, "nll_true": true_nll}


def _evaluate_landscape(job: Job) -> dict[str, float]:
    """Held-out NLL under the grid-normalised density (exact quadrature: no randomness)."""
    job.model.eval()
    return _with_true_nll({"nll_heldout": grid_nll(job.model, job.data.test, job.bounds, resolution=200),
                           "log_z": log_partition_grid(job.model, job.bounds, resolution=200)}, job.true_nll)


def _evaluate_rbm(job: Job) -> dict[str, float]:
    """AIS test log-likelihood (2 000 temperatures, 100 chains; ``log_z_std`` is its Monte-Carlo error)."""
    rbm = copy.deepcopy(job.rbm)
    run = AISRun(rbm, n_chains=100, n_betas=2000, generator=job.generator, base_visible_bias=job.base_bias)
    run.advance()
    log_z, std = run.estimate()
    return {"test_ll": rbm_log_likelihood(rbm, job.test, log_z), "log_z": log_z, "log_z_std": std,
            "recon_error": job.trainer.recon_error(job.test)}


def _evaluate_images(job: Job) -> dict[str, float]:
    """FID and inception score of 500 samples from noise against the test digits."""
    job.scorer_thread.join()   # the job fits the same classifier in the background: reuse it
    scorer = job.scorer or SampleQuality(job.split)
    return scorer.evaluate(_sample_images(job, 500, None))


def _evaluate_jem(job: Job) -> dict[str, float]:
    """Test accuracy and the energy score's AUROC against every OOD set (no randomness)."""
    job.set_knobs(score="energy", temperature=1.0)
    job.evaluate()
    return job.evaluation_figures()


def _evaluate_score(job: Job) -> dict[str, float]:
    """Held-out NLL of the score-matching energy and of the CD energy trained beside it (grid quadrature)."""
    job.model.eval()
    job.cd_model.eval()
    return _with_true_nll({"nll_sm": grid_nll(job.model, job.data.test, job.data.bounds, resolution=200),
                           "nll_cd": grid_nll(job.cd_model, job.data.test, job.data.bounds, resolution=200)},
                          job.data.true_nll)


def _evaluate_equivariant(job: Job) -> dict[str, float]:
    """NLL on the full symmetric held-out set of the equivariant and the plain energy (grid quadrature,
    no randomness), and the share of each density off the training sector."""
    out = {}
    for name in ("equivariant", "plain"):
        model = getattr(job, name).eval()
        out[f"nll_{name}"] = grid_nll(model, job.data.test, job.data.bounds, resolution=200)
        out[f"mass_off_{name}"] = job.mass_off_sector(energy_on_grid(model, job.data.bounds, 200)[2])
    return _with_true_nll(out, job.data.true_nll)


def _evaluate_latent(job: Job) -> dict[str, float]:
    """Held-out NLL of the latent-variable energy's marginal: ``E(x) = -log ∫ exp(-E(x, z)) dz`` by
    importance sampling with the encoder (64 latents per point), ``log Z`` by grid quadrature of the
    same estimate (common latent noise, 100² grid); ``marginal_se`` is the mean standard error of ``E(x)``."""
    job.latent.eval()
    with torch.no_grad():
        energy, stderr = job.latent.marginal_energy(job.data.test, 64, job.generator)
        log_z = log_partition_grid(job.latent.marginal(64, job.generator, common_noise=True), job.data.bounds, 100)
    return _with_true_nll({"nll_latent": float(energy.double().mean()) + log_z, "marginal_se": float(stderr.mean())},
                          job.data.true_nll)


def _evaluate_symmetry_page(job: Job) -> dict[str, float]:
    """The figures of both: the page's file holds the equivariant, the plain and the latent-variable energy."""
    return {**_evaluate_equivariant(job), **_evaluate_latent(job)}


# --- sampling ------------------------------------------------------------------------------
def _langevin(job: Job, energy: torch.nn.Module, start: torch.Tensor, step_size: float,
              steps: int | None) -> torch.Tensor:
    """Unbounded Langevin chains of ``energy`` at T = 1 from ``start``, noise ``√(2 step_size)`` (500 steps)."""
    step_size = float(step_size)
    chain = ShortRunChain(energy.eval(), start, step_size, math.sqrt(2 * step_size), 1.0, None, job.generator)
    return chain.step(steps or 500)


def _sample_landscape(job: Job, n: int, steps: int | None) -> np.ndarray:
    """Langevin chains from uniform noise on the plotting box, at the job's step size: (n, 2)."""
    start = job.trainer.buffer.init_fn(n, job.generator)
    return to_numpy(_langevin(job, job.model, start, job.knobs["step_size"], steps))


def _sample_rbm(job: Job, n: int, steps: int | None) -> np.ndarray:
    """Block-Gibbs chains from random pixels; the last visible probabilities: (n, h, w)."""
    start = torch.bernoulli(torch.full((n, job.rbm.n_visible), 0.5, device=job.device), generator=job.generator)
    with torch.no_grad():
        probs, _ = job.rbm.gibbs(start, k=steps or 1000, generator=job.generator)
    return to_numpy(probs).reshape(n, *job.shape)


def _sample_images(job: Job, n: int, steps: int | None) -> np.ndarray:
    """Short-run Langevin from the job's chain starts: noise (ConvEBM) or generator proposals (EBM +
    generator), the job's own number of steps unless given: (n, h, w)."""
    run = job.quality_run_from(job.chain_start(n), {})
    return to_numpy(run.chain.step(steps if steps is not None else run.steps)).reshape(n, *job.shape)


def _sample_jem(job: Job, n: int, steps: int | None) -> np.ndarray:
    """Class-conditional SGLD from noise, digits 0-9 in turn: (n, h, w)."""
    labels = torch.arange(n, device=job.device) % 10
    start = job.trainer.fresh_noise(n, job.generator)
    x = job.trainer.sgld(ClassConditionalEnergy(job.model.eval(), labels), start, steps or 200)
    return to_numpy(x).reshape(n, *job.shape)


def _sample_score(job: Job, n: int, steps: int | None) -> np.ndarray:
    """Annealed Langevin through the model's noise levels (one level: plain Langevin), from uniform noise."""
    plain_steps = None if isinstance(job.model, NoiseConditionalEBM) else 200
    return to_numpy(job.anneal(job.data.uniform(n, job.sample_generator), steps or plain_steps))


def _sample_equivariant(job: Job, n: int, steps: int | None) -> np.ndarray:
    """Langevin chains of the equivariant energy from uniform noise on the box, at the job's step size: (n, 2)."""
    start = job.data.uniform(n, job.generator)
    return to_numpy(_langevin(job, job.equivariant, start, job.knobs["step_size"], steps))


def _sample_latent(job: Job, n: int, steps: int | None) -> np.ndarray:
    """Langevin chains on the joint ``(x, z)`` from uniform ``x`` and normal ``z``; the ``x`` part: (n, 2)."""
    start = job.latent_trainer.buffer.init_fn(n, job.generator)
    return to_numpy(_langevin(job, job.latent.joint(), start, job.knobs["latent_step_size"], steps)[:, :2])


_IMAGES_HEADLESS = {"quality_every_s": NEVER}
_SYMMETRY_HEADLESS = {"readout_every_s": NEVER, "surface_every_s": NEVER}

MODELS: dict[str, ModelEntry] = {e.name: e for e in (
    ModelEntry("mlp_ebm", "MLP energy on a 2D toy set, contrastive divergence (Energy Landscape)", "landscape",
               toy2d.NAMES, "held-out NLL (nats) under the grid-normalised density",
               _evaluate_landscape, _sample_landscape, headless_config={"readout_every_s": NEVER}),
    ModelEntry("score_ebm", "MLP energy by score matching, with a CD energy beside it (Score Matching)",
               "score_matching", toy2d.NAMES, "held-out NLL of the score-matching and the CD energy",
               _evaluate_score, _sample_score,
               headless_config={"readout_every_s": NEVER, "surface_every_s": NEVER, "balance": "steps"}),
    ModelEntry("rbm", "Bernoulli RBM on binarised digits, CD-k / PCD (RBM)", "rbm", ("digits", "mnist"),
               "AIS test log-likelihood (nats per image)", _evaluate_rbm, _sample_rbm,
               headless_config={"ais_every_s": NEVER}),
    ModelEntry("conv_ebm", "convolutional EBM on digits, PCD with a replay buffer (Images)", "images",
               ("digits", "mnist"), "FID and inception score of 500 short-run samples",
               _evaluate_images, _sample_images, headless_config=_IMAGES_HEADLESS),
    ModelEntry("ebm_generator", "ConvEBM with a generator network that proposes its samples (Images)",
               "images_generator", ("digits", "mnist"), "FID and inception score of 500 refined generator samples",
               _evaluate_images, _sample_images, headless_config=_IMAGES_HEADLESS),
    ModelEntry("jem", "joint energy model: a digit classifier that is also an EBM (JEM & OOD)", "jem", ("digits",),
               "test accuracy and energy-score AUROC against each OOD set", _evaluate_jem, _sample_jem,
               headless_config={"eval_every_s": NEVER}),
    ModelEntry("equivariant_ebm", "group-invariant MLP energy beside a plain one, both trained on one sector of a "
               "symmetric 2D set (Symmetry & Latents)", "symmetry_latents", SYMMETRIC_SETS,
               "NLL on the full symmetric held-out set of the equivariant and the plain energy, and their mass "
               "off the sector", _evaluate_equivariant, _sample_equivariant,
               fixed_config={"model": "equivariant_ebm"}, headless_config=_SYMMETRY_HEADLESS),
    ModelEntry("latent_ebm", "latent-variable energy E(x, z) with an encoder on a symmetric 2D set "
               "(Symmetry & Latents)", "symmetry_latents", SYMMETRIC_SETS,
               "held-out NLL of the importance-sampled marginal energy", _evaluate_latent, _sample_latent,
               fixed_config={"model": "latent_ebm"}, headless_config=_SYMMETRY_HEADLESS),
    ModelEntry("symmetry_latent_ebms", "the Symmetry & Latents page's three energies in one file (as the page "
               "saves them)", "symmetry_latents", SYMMETRIC_SETS, "the figures of equivariant_ebm and latent_ebm",
               _evaluate_symmetry_page, _sample_equivariant,
               fixed_config={"model": "symmetry_latent_ebms"}, headless_config=_SYMMETRY_HEADLESS),
)}


def entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise CatalogError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def build_job(name: str, data: str | None = None, seed: int = 0, device: str | None = None,
              settings: dict[str, Any] | None = None, data_folder: str | None = None) -> Job:
    """The job that trains model ``name`` on ``data``, with its live extras off."""
    model = entry(name)
    data = data or model.datasets[0]
    if data not in model.datasets:
        raise CatalogError(f"{name} does not train on {data!r}; choose one of: {', '.join(model.datasets)}")
    cls = job_class(model.job_kind)
    config = {**model.fixed_config, **model.headless_config, "seed": int(seed), **(settings or {})}
    if cls.DATA_KEY:
        config[cls.DATA_KEY] = data
    if data == "mnist":
        if not data_folder:
            raise CatalogError("the mnist data set needs --data-folder (a folder with MNIST-format IDX files)")
        if not Path(data_folder).is_dir():
            raise CatalogError(f"data folder {data_folder} does not exist")
        config["mnist_folder"] = str(data_folder)
    unknown = sorted(set(config) - set(cls.CONFIG))
    if unknown:
        raise CatalogError(f"unknown setting(s) {unknown} for {name}; known: {sorted(cls.CONFIG)}")
    try:
        return cls(config, device=device)
    except (ValueError, TypeError, OSError) as exc:
        raise CatalogError(f"cannot build {name}: {exc}") from None


def job_from_checkpoint(path: str | Path, expected_model: str | None = None, device: str | None = None) -> Job:
    """Rebuild the job of a checkpoint (its recorded settings) and load the weights and training state."""
    if expected_model:
        entry(expected_model)
    state, header = load_checkpoint(path, expected_model=expected_model)
    model = entry(str(header.get("model")))
    cls = job_class(model.job_kind)
    chosen_elsewhere = {cls.DATA_KEY, "seed", "mnist_folder"}   # build_job's own arguments
    config = header.get("config") or {}
    settings = {k: v for k, v in config.items() if k in cls.CONFIG and k not in chosen_elsewhere}
    job = build_job(model.name, header.get("data"), int(header.get("seed") or 0), device,
                    {**settings, **model.headless_config}, config.get("mnist_folder") or None)
    job.load_model_state(state, header)
    live = job.knobs.as_dict()
    job.set_knobs(**{k: v for k, v in (header.get("knobs") or {}).items() if k in live})
    return job


def train(job: Job, steps: int, on_step: Callable[[Job], None] | None = None) -> None:
    """``steps`` more training iterations, exactly as the page's Play runs them."""
    for _ in range(int(steps)):
        job.step()
        if on_step is not None:
            on_step(job)


def reseed(job: Job, seed: int) -> None:
    """Make the next sampling or evaluation reproducible: all the job's randomness uses its generators."""
    for offset, value in enumerate(v for _, v in sorted(vars(job).items()) if isinstance(v, torch.Generator)):
        value.manual_seed(int(seed) + offset)


def evaluate(job: Job, seed: int = 0) -> dict[str, float]:
    """The model's figures (deterministic for a seed); the job's own state is not changed."""
    model = entry(job.model_name())
    generators = [v for v in vars(job).values() if isinstance(v, torch.Generator)]
    saved = [g.get_state() for g in generators]
    reseed(job, seed)
    try:
        with torch.random.fork_rng(devices=[]):
            return {k: float(v) for k, v in model.evaluate(job).items()}
    finally:
        for g, state in zip(generators, saved):
            g.set_state(state)


def sample(job: Job, n: int, seed: int = 0, steps: int | None = None) -> np.ndarray:
    """``n`` samples of the model: (n, 2) points or (n, h, w) images in [0, 1]."""
    if n < 1:
        raise CatalogError("the number of samples must be at least 1")
    model = entry(job.model_name())
    reseed(job, seed)
    return model.sample(job, int(n), steps)


__all__ = ["MODELS", "ModelEntry", "CatalogError", "CheckpointError", "entry", "build_job", "job_from_checkpoint",
           "train", "evaluate", "sample", "reseed"]
