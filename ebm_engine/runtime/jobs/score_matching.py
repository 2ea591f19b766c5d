"""Score Matching job: train an MLP energy by score matching on a 2D toy set, beside contrastive divergence.

Each ``step()`` advances whichever of the two trainers has had less training time, so the score
matching model and the contrastive-divergence model (the Energy Landscape page's recipe: the same
``ContrastiveDivergence`` with the same settings) always have the same wall-clock budget. With
one noise level the model is a ``SimpleEBM`` and samples come from Langevin chains; with a ladder
of levels it is a ``NoiseConditionalEBM`` and samples come from annealed Langevin dynamics. Where the
data's density is known, the learned score is compared with the true one (the Fisher divergence, as a
number and as its integrand on the grid).
"""
from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import numpy as np
import param
import torch

from ebm_engine.device import make_generator
from ebm_engine.metrics.fisher import fisher_divergence
from ebm_engine.metrics.partition import energy_on_grid, grid_nll
from ebm_engine.models.noise_conditional_ebm import NoiseConditionalEBM, geometric_ladder
from ebm_engine.models.simple_ebm import SimpleEBM
from ebm_engine.runtime.controls import KNOB, LOG_KNOB, Controls
from ebm_engine.runtime.job import Job, seeded, to_numpy, weights_version
from ebm_engine.runtime.refresh import Refresh
from ebm_engine.runtime.views.curves import Curves
from ebm_engine.runtime.views.score_field import arrows, energy_and_fisher_integrand_on, model_arrows, true_score_grid
from ebm_engine.runtime.views.surface import density_view, energy_range, grid_density
from ebm_engine.data.toy_sources import SOURCES, ToyData
from ebm_engine.runtime.parts import same_object
from ebm_engine.samplers.annealed_langevin import annealed_langevin
from ebm_engine.training.contrastive_divergence import CDConfig, ContrastiveDivergence
from ebm_engine.training.score_trainer import METHODS, ScoreMatching, ScoreMatchingConfig

HISTORY = 3000
SIGMA_MAX = 2.0          # largest level of a noise ladder: about the spread of the toy sets' modes
N_SAMPLES = 300


class ScoreMatchingControls(Controls):
    dataset = param.Selector(default="8gaussians", objects=list(SOURCES), label="Data set",
                             doc="2D training data: toy sets and analytic targets")
    noise_levels = param.Selector(default=1, objects=[1, 2, 3, 4, 6, 8], label="Noise levels (annealed when > 1)",
                                  doc="noise levels: more than one trains a noise-conditional model")
    hidden = param.Selector(default=128, objects=[16, 32, 64, 128, 256], label="Hidden units",
                            doc="hidden units per layer")
    depth = param.Integer(default=2, bounds=(1, 4), precedence=-1)
    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed", doc="random seed of data, models and chains")
    n_train = param.Integer(default=10000, bounds=(1, 10_000_000), precedence=-1)
    n_test = param.Integer(default=2000, bounds=(1, 10_000_000), precedence=-1)
    resolution = param.Integer(default=96, bounds=(8, 1024), precedence=-1)
    arrow_resolution = param.Integer(default=19, bounds=(3, 128), precedence=-1)
    readout_every_s = param.Number(default=2.0, bounds=(0.0, None), precedence=-1)
    surface_every_s = param.Number(default=0.08, bounds=(0.0, None), precedence=-1)
    surface_share = param.Number(default=0.25, bounds=(0.0, 1.0), precedence=-1)
    nll_resolution = param.Integer(default=160, bounds=(8, 1024), precedence=-1)
    balance = param.Selector(default="time", objects=["time", "steps"], precedence=-1,
                             doc="what score matching and CD are given in equal measure")

    method = param.Selector(default="denoising", objects={m.capitalize(): m for m in METHODS}, label="Method",
                            doc="score-matching objective", metadata=KNOB)
    sigma = param.Number(default=0.1, bounds=(0.01, 1.0), label="Noise level σ",
                         doc="noise level σ (the smallest of a ladder)", metadata=LOG_KNOB)
    lr = param.Number(default=3e-3, bounds=(1e-5, 0.1), softbounds=(1e-4, 0.02), label="Learning rate",
                      doc="Adam learning rate (both models)", metadata=LOG_KNOB)
    projection = param.Selector(default="rademacher", objects=["rademacher", "gaussian"], label="Sliced projections",
                                doc="projection vectors of sliced score matching", metadata=KNOB)
    sample_step = param.Number(default=0.002, bounds=(1e-5, 0.5), softbounds=(1e-4, 0.05), label="Sampling step size",
                               doc="Langevin step size at the smallest level", metadata=LOG_KNOB)


class ScoreMatchingJob(Job):
    """Score matching (denoising, sliced, exact) against contrastive divergence on the same data and time."""

    KIND = "score_matching"
    CONTROLS = ScoreMatchingControls

    CHECKPOINT_MODELS = ("score_ebm",)
    MODEL_ARGS = ("hidden", "depth", "noise_levels")

    def build(self) -> None:
        cfg = self.config
        seed, levels, hidden, depth = cfg["seed"], cfg["noise_levels"], cfg["hidden"], cfg["depth"]
        self.data = ToyData(cfg["dataset"], cfg["n_train"], cfg["n_test"], seed, self.device)
        self.generator = make_generator(seed, self.device)
        self.sample_generator = make_generator(seed + 1, self.device)
        self.model = seeded(seed, lambda: SimpleEBM(2, hidden, depth) if levels == 1 else NoiseConditionalEBM(
            2, geometric_ladder(SIGMA_MAX, self.knobs["sigma"], levels), hidden, depth)).to(self.device)
        self.cd_model = seeded(seed, lambda: SimpleEBM(2, hidden, depth)).to(self.device)
        self.trainer = ScoreMatching(self.model, self.data.batch, ScoreMatchingConfig(), generator=self.generator)
        self.cd_trainer = ContrastiveDivergence(self.cd_model, self.data.batch, self.data.uniform,
                                                CDConfig(max_chain_norm=3 * self.data.radius),
                                                generator=make_generator(seed, self.device))
        self.seconds = {"sm": 0.0, "cd": 0.0}
        self.history = Curves(("step", "loss"), HISTORY)
        self.samples = self.data.uniform(N_SAMPLES, self.sample_generator)
        self.readouts: dict[str, Any] = {}
        self.readout_refresh = Refresh(lambda: self.config["readout_every_s"])
        self.surface_weights: tuple = ()   # the weights the surfaces show (``payload``)
        self.surface_refresh = Refresh(cfg["surface_every_s"], cfg["surface_share"])
        self.true_field = self.true_score_grid = None
        true_density = {"true_density": None}
        if self.data.smooth:   # the data's score field and density: fixed for a data set
            log_prob, bounds = self.data.log_prob, self.data.bounds
            self.true_field = arrows(*true_score_grid(log_prob, bounds, cfg["arrow_resolution"], self.device)[:2])
            self.true_score_grid = true_score_grid(log_prob, bounds, cfg["resolution"], self.device)
            _, _, e = energy_on_grid(lambda x: -log_prob(x.double()).float(), bounds, cfg["resolution"],
                                     device=self.device)
            true_density = density_view(grid_density(e, bounds, 1.0), "true_density")
        self.truth = {"true_field": self.true_field, **true_density}
        self.on_knobs(self.knobs.as_dict())

    @property
    def ladder(self) -> tuple[float, ...]:
        return self.model.sigmas if isinstance(self.model, NoiseConditionalEBM) else (self.knobs["sigma"],)

    def on_knobs(self, changed: dict[str, Any]) -> None:
        k = self.knobs
        self.trainer.update_config(method=k["method"], sigma=k["sigma"], lr=k["lr"], projection=k["projection"])
        self.cd_trainer.update_config(lr=k["lr"])
        if "sigma" in changed and isinstance(self.model, NoiseConditionalEBM):
            self.model.sigmas = geometric_ladder(max(SIGMA_MAX, k["sigma"]), k["sigma"], len(self.model.sigmas))
            self.surface_refresh.invalidate()   # the energy at the smallest level moved
        if changed:
            self.readout_refresh.invalidate()   # refreshed once the knob rests (``Job.wait_for_knobs``)

    def advance(self) -> None:
        if self.config["balance"] == "time":
            which = "sm" if self.seconds["sm"] <= self.seconds["cd"] else "cd"
        else:   # "steps": one iteration each in turn (headless, reproducible)
            which = "sm" if self.trainer.step_count <= self.cd_trainer.step_count else "cd"
        t0 = time.perf_counter()
        if which == "sm":
            stats = self.trainer.step()
            if not self.warn_if_diverged(stats, self.trainer, "Score matching", "Lower the learning rate."):
                self.history.add(step=stats.step, loss=stats.loss)
        else:
            self.warn_if_diverged(self.cd_trainer.step(), self.cd_trainer, "Contrastive divergence")
        self.seconds[which] += time.perf_counter() - t0

    def model_modules(self) -> dict[str, torch.nn.Module]:
        """The score-matching energy and the contrastive-divergence energy trained beside it."""
        return {"model": self.model, "cd_model": self.cd_model}

    def resumable_trainers(self) -> dict[str, Any]:
        return {"": self.trainer, "cd": self.cd_trainer}

    def after_load(self) -> None:
        self.readout_refresh.invalidate()
        self.surface_refresh.invalidate()

    def recover(self) -> str:
        self.trainer.restore_last_good()
        self.cd_trainer.restore_last_good()
        return "weights restored from the last good iteration"

    # --- readouts ------------------------------------------------------------------------------
    def anneal(self, start: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Langevin chains from ``start``, ``steps`` per level down the ladder (one level: plain Langevin);
        a noise-conditional model's default spreads about 120 steps over its levels."""
        conditional = isinstance(self.model, NoiseConditionalEBM)
        return annealed_langevin(self.model.at if conditional else (lambda _s: self.model), self.ladder, start,
                                 steps or max(20, 120 // len(self.ladder)), self.knobs["sample_step"],
                                 generator=self.sample_generator)

    def _draw_samples(self) -> None:
        """Fresh annealed chains through the ladder, or persistent Langevin chains at one level."""
        if isinstance(self.model, NoiseConditionalEBM):
            x = self.anneal(self.data.uniform(N_SAMPLES, self.sample_generator))
        else:
            x = self.anneal(self.samples, 100)
        lost = ~torch.isfinite(x).all(dim=1) | (x.norm(dim=1) > 3 * self.data.radius)
        if lost.any():
            x[lost] = self.data.uniform(int(lost.sum()), self.sample_generator)
            self.warn(f"{int(lost.sum())} sampling chains left the box and were restarted: "
                      "lower the sampling step size.")
        self.samples = x

    def _refresh_readouts(self) -> Generator:
        """Held-out NLLs and Fisher divergences of both models, and fresh samples, as steps."""
        self.model.eval()
        self.cd_model.eval()
        res = self.config["nll_resolution"]
        bounds, test = self.data.bounds, self.data.test
        readouts: dict[str, Any] = {
            "nll_sm": (yield from grid_nll.steps(self.model, test, bounds, resolution=res)),
            "nll_cd": (yield from grid_nll.steps(self.cd_model, test, bounds, resolution=res)),
            "nll_true": self.data.true_nll,
            "seconds_sm": self.seconds["sm"], "seconds_cd": self.seconds["cd"],
            "steps_sm": self.trainer.step_count, "steps_cd": self.cd_trainer.step_count,
        }
        if self.data.smooth:
            log_prob = lambda x: self.data.log_prob(x.double())   # noqa: E731
            readouts["fisher_sm"] = fisher_divergence(self.model, log_prob, test[:1000])
            yield
            readouts["fisher_cd"] = fisher_divergence(self.cd_model, log_prob, test[:1000])
            yield
        self._draw_samples()
        self.readouts = readouts
        self.readout_refresh.mark(self.step_count)

    def _learned_surface(self) -> dict[str, Any]:
        """The learned energy and score field on the display grids, and their disagreement with the data's."""
        cfg, bounds = self.config, self.data.bounds
        self.model.eval()
        if self.true_score_grid is not None:   # the disagreement map from the same pass (~13 ms at 96²)
            energy, integrand = energy_and_fisher_integrand_on(self.model, self.true_score_grid)
        else:
            _, _, energy = energy_on_grid(self.model, bounds, cfg["resolution"])
        learned = model_arrows(self.model, bounds, cfg["arrow_resolution"], self.device)
        # one length scale for both arrow fields: the median magnitude of the true (else the learned) score
        reference = (self.true_field or learned)["magnitude"]
        surface = {"energy": to_numpy(energy), "energy_range": energy_range(energy), "learned_field": learned,
                   "arrow_reference": float(np.median(reference)), "fisher_map": None}
        if self.true_score_grid is not None:   # the disagreement map moves with the field
            surface.update(fisher_map=to_numpy(integrand), fisher_map_max=float(integrand.max()))
        return surface

    def _cd_surface(self) -> dict[str, Any]:
        self.cd_model.eval()
        _, _, cd_energy = energy_on_grid(self.cd_model, self.data.bounds, self.config["resolution"])
        return density_view(grid_density(cd_energy, self.data.bounds, 1.0), "cd_density")

    def payload(self) -> dict[str, Any]:
        # a knob's answer goes out first
        if self.readout_refresh.elapsed() and not (self.readouts and self.wait_for_knobs()):
            self.readout(self._refresh_readouts())
        parts, cfg = self.parts, self.config
        # the surfaces follow the weights (and a noise-conditional model's ladder, whose smallest level they
        # show), at most as often as ``surface_refresh`` allows while training
        due = self.surface_refresh.due(self.step_count)
        if due:
            ladder = self.model.sigmas if isinstance(self.model, NoiseConditionalEBM) else None
            self.surface_weights = ((weights_version(self.model), ladder), weights_version(self.cd_model))
        started = time.perf_counter()
        learned = parts.part("learned", self.surface_weights[0], self._learned_surface)
        contrastive = parts.part("cd", self.surface_weights[1], self._cd_surface)
        if due:
            self.surface_refresh.done(self.step_count, time.perf_counter() - started)
        samples = self.samples   # replaced by each readout
        return {
            "bounds": self.data.bounds,
            **learned, **contrastive, **parts.part("truth", (), lambda: self.truth),
            "data": parts.part("data", (cfg["dataset"], cfg["seed"]), lambda: to_numpy(self.data.train[:600])),
            "samples": parts.part("samples", same_object(samples), lambda: to_numpy(samples)),
            "ladder": list(self.ladder),
            "history": self.history.arrays(),
            "divergences": self.trainer.divergences,
            **self.readouts,
        }
