"""Energy Landscape job: train an MLP energy on a 2D toy set by contrastive divergence, live; each
``step()`` is one training iteration. Its readouts: log Z by quadrature and by importance sampling, and
the held-out NLL (and the true one where the data's density is known)."""
from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import param
import torch

from ebm_engine.data import toy2d
from ebm_engine.data.toy_sources import ToyData
from ebm_engine.device import make_generator
from ebm_engine.metrics.partition import energy_on_grid, grid_nll, log_partition_grid, log_partition_mc
from ebm_engine.models.simple_ebm import ACTIVATIONS, SimpleEBM
from ebm_engine.runtime.job import Job, seeded, to_numpy, weights_version
from ebm_engine.runtime.refresh import Refresh
from ebm_engine.runtime.views.curves import Curves
from ebm_engine.runtime.views.surface import density_view, energy_range, grid_density
from ebm_engine.runtime.parts import same_object
from ebm_engine.runtime.controls import KNOB, LOG_KNOB, Controls
from ebm_engine.samplers.short_run import ShortRunChain
from ebm_engine.training.contrastive_divergence import CDConfig, ContrastiveDivergence

HISTORY = 3000
SETTLE_STEPS = 50   # Langevin steps that move fresh chains onto a loaded model's modes


class LandscapeControls(Controls):
    dataset = param.Selector(default="8gaussians", objects=list(toy2d.NAMES), label="Data set",
                             doc="2D training data")
    hidden = param.Selector(default=128, objects=[16, 32, 64, 128, 256], label="Hidden units",
                            doc="hidden units per layer")
    depth = param.Integer(default=2, bounds=(1, 4), label="Hidden layers")
    activation = param.Selector(default="silu", objects=list(ACTIVATIONS), label="Activation")
    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed", doc="random seed of data, model and chains")
    batch_size = param.Integer(default=256, bounds=(1, 100_000), precedence=-1)
    n_train = param.Integer(default=10000, bounds=(1, 10_000_000), precedence=-1)
    n_test = param.Integer(default=2000, bounds=(1, 10_000_000), precedence=-1)
    resolution = param.Integer(default=128, bounds=(8, 1024), precedence=-1)
    readout_every_s = param.Number(default=1.0, bounds=(0.0, None), precedence=-1)

    temperature = param.Number(default=1.0, bounds=(0.05, 10.0), softbounds=(0.1, 5.0), step=0.05,
                               label="Temperature T", doc="T in exp(-E/T)/Z", metadata=KNOB)
    lr = param.Number(default=3e-3, bounds=(1e-5, 0.1), softbounds=(1e-4, 0.05), label="Learning rate",
                      doc="Adam learning rate", metadata=LOG_KNOB)
    step_size = param.Number(default=0.02, bounds=(1e-4, 10.0), softbounds=(1e-3, 10.0),
                             label="Langevin step size ε", metadata=LOG_KNOB)
    noise = param.Number(default=1.0, bounds=(0.0, 2.0), step=0.05, label="Langevin noise (× √2ε)",
                         doc="the noise's standard deviation, in units of √(2ε)", metadata=KNOB)
    langevin_steps = param.Integer(default=10, bounds=(1, 200), label="Langevin steps per iteration", metadata=KNOB)
    reinit_fraction = param.Number(default=0.05, bounds=(0.0, 1.0), step=0.01, label="Buffer re-init fraction",
                                   doc="share of chains restarted from noise at each iteration", metadata=KNOB)
    l2_weight = param.Number(default=0.1, bounds=(0.0, 1.0), step=0.01, label="Energy L2 weight",
                             doc="L2 penalty on the energies of data and negatives", metadata=KNOB)


class LandscapeJob(Job):
    """Contrastive-divergence training of ``SimpleEBM`` on a toy 2D data set."""

    KIND = "landscape"
    CONTROLS = LandscapeControls
    CHECKPOINT_MODELS = ("mlp_ebm",)
    MODEL_ARGS = ("hidden", "depth", "activation")

    def build(self) -> None:
        cfg = self.config
        self.generator = make_generator(cfg["seed"], self.device)
        self.data = ToyData(cfg["dataset"], cfg["n_train"], cfg["n_test"], cfg["seed"], self.device)
        self.bounds, log_prob = self.data.bounds, self.data.log_prob
        self.true_nll = float(-log_prob(self.data.test.cpu()).mean()) if log_prob else None
        self.model = seeded(cfg["seed"], lambda: SimpleEBM(2, cfg["hidden"], cfg["depth"], cfg["activation"]))
        self.model.to(self.device)
        self.trainer = ContrastiveDivergence(
            self.model, self.data.batch, self.data.uniform,
            CDConfig(batch_size=cfg["batch_size"], max_chain_norm=3 * self.data.radius), generator=self.generator)
        self.history = Curves(("step", "loss", "e_data", "e_neg"), HISTORY)
        self.readouts: dict[str, Any] = {}
        self.chains_reset_total = 0
        self.readout_refresh = Refresh(lambda: self.config["readout_every_s"])
        self.on_knobs(self.knobs.as_dict())

    def on_knobs(self, changed: dict[str, Any]) -> None:
        k = self.knobs
        self.trainer.update_config(
            lr=k["lr"], step_size=k["step_size"], langevin_steps=k["langevin_steps"],
            reinit_fraction=k["reinit_fraction"], l2_weight=k["l2_weight"],
            noise_scale=None if k["noise"] == 1.0 else k["noise"] * math.sqrt(2 * k["step_size"]))
        if "temperature" in changed or "step_size" in changed:
            self.readout_refresh.invalidate()   # refresh readouts with the next snapshot

    def advance(self) -> None:
        stats = self.trainer.step()
        many_reset = stats.chains_reset >= max(3, 0.02 * self.config["batch_size"])
        if not self.warn_if_diverged(stats, self.trainer) and many_reset:
            self.warn(f"{stats.chains_reset} chains left the plotting box at iteration {stats.step} and "
                      "were re-initialised: the Langevin step size may be too large.")
        self.chains_reset_total += stats.chains_reset
        self.history.add(step=stats.step, loss=stats.loss, e_data=stats.e_data, e_neg=stats.e_neg)

    def model_modules(self) -> dict[str, torch.nn.Module]:
        return {"model": self.model}

    def checkpoint_metrics(self) -> dict[str, float]:
        nll = self.readouts.get("nll_heldout")
        return {"nll_heldout": nll} if nll is not None and self.readouts.get("readout_temperature") == 1.0 else {}

    def after_load(self) -> None:
        """Readouts of the loaded model with the next snapshot; chains that already follow it."""
        self.readout_refresh.invalidate()
        if "replay buffer" not in self.restored_training_state:   # a weights-only file: settle fresh chains
            k = self.knobs
            chain = ShortRunChain(self.model, self.trainer.buffer.store, k["step_size"],
                                  k["noise"] * math.sqrt(2 * k["step_size"]), 1.0, None, self.generator)
            self.trainer.buffer.store.copy_(chain.step(SETTLE_STEPS))
        self.trainer.last_negatives = self.trainer.buffer.store[: self.config["batch_size"]].clone()

    def recover(self) -> str:
        self.trainer.restore_last_good()
        return f"weights restored from iteration {self.trainer.last_good_step}"

    def _refresh_readouts(self, temperature: float) -> Generator:
        """log Z by quadrature and by importance sampling, and the held-out NLL, as steps."""
        self.model.eval()
        log_z = yield from log_partition_grid.steps(self.model, self.bounds, resolution=200, temperature=temperature)
        # uniform proposal on the plotting box: the same integral as the quadrature, so comparable
        mc, mc_se = yield from log_partition_mc.steps(self.model, self.bounds, n_samples=8192,
                                                      temperature=temperature, generator=self.generator,
                                                      proposal="uniform")
        nll = yield from grid_nll.steps(self.model, self.data.test, self.bounds, resolution=200,
                                        temperature=temperature)
        self.readouts = {"log_z_grid": log_z, "log_z_mc": mc, "log_z_mc_se": mc_se,
                         "nll_heldout": nll, "nll_true": self.true_nll if temperature == 1.0 else None,
                         "readout_temperature": temperature}
        self.readout_refresh.mark(self.step_count)

    def _energy_surface(self) -> dict[str, Any]:
        self.model.eval()
        _, _, energy = energy_on_grid(self.model, self.bounds, self.config["resolution"])
        return {"energy": to_numpy(energy), "energy_range": energy_range(energy)}

    def payload(self) -> dict[str, Any]:
        temperature = self.knobs["temperature"]
        # a knob's answer goes out first
        if self.readout_refresh.elapsed() and not (self.readouts and self.wait_for_knobs()):
            self.readout(self._refresh_readouts(temperature))
        parts, cfg = self.parts, self.config
        # paused, a temperature change redraws the density from the energy drawn for these weights
        energy = parts.part("energy", weights_version(self.model), self._energy_surface)
        density = parts.part("density", (parts.version("energy"), temperature), lambda: density_view(
            grid_density(torch.from_numpy(energy["energy"]), self.bounds, temperature)))
        negatives = self.trainer.last_negatives   # replaced by each iteration and each load
        return {
            "bounds": self.bounds,
            **energy,
            **density,
            "data": parts.part("data", (cfg["dataset"], cfg["seed"]), lambda: to_numpy(self.data.train[:600])),
            "negatives": parts.part("negatives", same_object(negatives), lambda: to_numpy(negatives[:512])),
            "history": self.history.arrays(),
            "divergences": self.trainer.divergences,
            "chains_reset": self.chains_reset_total,
            **self.readouts,
        }
