"""Symmetry & Latents job: an equivariant and a plain energy trained on one sector of a symmetric set,
and a latent-variable energy trained on the whole set.

Each ``step()`` is one contrastive-divergence iteration of the equivariant and of the plain
model (same base architecture, same initial weights, same data: only the points of one angular
sector) and one iteration of the latent-variable model. The group (order and reflections) is a
live knob: the equivariant model changes its group at once. The latent model's marginal density is
importance-sampled with the encoder as proposal: redrawn every frame, one of its importance draws at
a time, and in full with each readout.

The ``model`` setting names what is trained and saved: the page trains all three energies
(``symmetry_latent_ebms``); headless, the catalog's ``equivariant_ebm`` trains the equivariant and
the plain energy only, ``latent_ebm`` the latent-variable one. The page loads a file of either
into the matching energies and goes on training all three.
"""
from __future__ import annotations

import math
import time
from collections.abc import Generator
from typing import Any

import param
import torch

from ebm_engine.device import make_generator
from ebm_engine.metrics.invariance import relative_invariance_error
from ebm_engine.metrics.partition import energy_on_grid, grid_points
from ebm_engine.models.equivariant_ebm import EquivariantEBM
from ebm_engine.models.latent_ebm import LatentEBM
from ebm_engine.models.point_groups import PointGroup
from ebm_engine.models.simple_ebm import SimpleEBM
from ebm_engine.stepwise import finish
from ebm_engine.runtime.controls import KNOB, LOG_KNOB, Controls
from ebm_engine.runtime.job import Job, seeded, to_numpy, weights_version
from ebm_engine.runtime.views.latent_density import RollingLatentDensity
from ebm_engine.runtime.refresh import Refresh
from ebm_engine.runtime.views.surface import density_view, grid_density
from ebm_engine.data.toy_sources import ToyData
from ebm_engine.runtime.parts import same_object
from ebm_engine.training.contrastive_divergence import CDConfig, ContrastiveDivergence
from ebm_engine.training.latent_trainer import LatentEBMConfig, LatentEBMTrainer

SYMMETRIC_SETS = ("8gaussians", "rings", "circles")
# the models this job trains, by catalog name: the page trains all three energies together
MODEL_PARTS = {"symmetry_latent_ebms": ("equivariant", "plain", "latent"),
               "equivariant_ebm": ("equivariant", "plain"),
               "latent_ebm": ("latent",)}


def in_sector(x: torch.Tensor, sectors: int) -> torch.Tensor:
    """Whether each point's angle lies in ``[-π/sectors, π/sectors)``: one of ``sectors`` equal wedges."""
    angle = torch.atan2(x[:, 1], x[:, 0])
    return (angle >= -math.pi / sectors) & (angle < math.pi / sectors)


class SymmetryLatentsControls(Controls):
    model = param.Selector(default="symmetry_latent_ebms", objects=list(MODEL_PARTS), precedence=-1,
                           doc="which of the energies train (the page trains all three)")
    dataset = param.Selector(default="8gaussians", objects=list(SYMMETRIC_SETS), label="Data set",
                             doc="a data set symmetric under rotations (and reflections)")
    sectors = param.Selector(default=8, objects={"one eighth": 8, "one quarter": 4, "one half": 2, "everything": 1},
                             label="Training sector", doc="train on one of this many wedges")
    mode = param.Selector(default="average", objects={"average over the group": "average",
                                                      "invariant features": "features"},
                          label="Invariance", doc="how invariance is built")
    hidden = param.Integer(default=128, bounds=(4, 4096), precedence=-1)
    depth = param.Integer(default=2, bounds=(1, 8), precedence=-1)
    latent_dim = param.Selector(default=1, objects=[1, 2], label="Latent dimension", doc="dimension of the latent z")
    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed", doc="random seed of data, models and chains")
    batch_size = param.Integer(default=128, bounds=(1, 100_000), precedence=-1)
    n_train = param.Integer(default=10000, bounds=(1, 10_000_000), precedence=-1)
    n_test = param.Integer(default=2000, bounds=(1, 10_000_000), precedence=-1)
    resolution = param.Integer(default=96, bounds=(8, 1024), precedence=-1)
    latent_resolution = param.Integer(default=64, bounds=(8, 1024), precedence=-1)
    marginal_samples = param.Integer(default=32, bounds=(1, 100_000), precedence=-1)
    latent_draws_per_roll = param.Integer(default=1, bounds=(1, 100_000), precedence=-1)
    latent_every_s = param.Number(default=0.066, bounds=(0.0, None), precedence=-1)
    latent_share = param.Number(default=0.1, bounds=(0.0, 1.0), precedence=-1)
    readout_every_s = param.Number(default=2.0, bounds=(0.0, None), precedence=-1)
    surface_every_s = param.Number(default=0.1, bounds=(0.0, None), precedence=-1)
    surface_share = param.Number(default=0.25, bounds=(0.0, 1.0), precedence=-1)
    nll_resolution = param.Integer(default=128, bounds=(8, 1024), precedence=-1)

    group_order = param.Integer(default=8, bounds=(1, 16), label="Group order n",
                                doc="n of the rotation group C_n (D_n with reflections)", metadata=KNOB)
    reflections = param.Boolean(default=False, label="Reflections (dihedral group)",
                                doc="add the n reflections (dihedral group D_n)", metadata=KNOB)
    lr = param.Number(default=3e-3, bounds=(1e-5, 0.1), softbounds=(1e-4, 0.01), label="Learning rate",
                      doc="Adam learning rate (all models)", metadata=LOG_KNOB)
    step_size = param.Number(default=0.02, bounds=(1e-4, 1.0), softbounds=(1e-3, 0.1), label="Langevin step size ε",
                             doc="Langevin step size of the negatives", metadata=LOG_KNOB)
    latent_step_size = param.Number(default=0.1, bounds=(1e-4, 1.0), softbounds=(0.01, 0.5),
                                    label="Joint (x, z) Langevin step size",
                                    doc="Langevin step size of the latent model's joint chains", metadata=LOG_KNOB)


class SymmetryLatentsJob(Job):
    """Equivariant vs plain energy on a sector of symmetric data; a latent-variable energy beside them."""

    KIND = "symmetry_latents"
    CONTROLS = SymmetryLatentsControls

    CHECKPOINT_MODELS = tuple(MODEL_PARTS)
    MODEL_ARGS = ("hidden", "depth", "mode", "latent_dim", "sectors")

    def build(self) -> None:
        cfg = self.config
        seed, hidden, depth = cfg["seed"], cfg["hidden"], cfg["depth"]
        self.data = ToyData(cfg["dataset"], cfg["n_train"], cfg["n_test"], seed, self.device)
        self.subset = self.data.train[in_sector(self.data.train, cfg["sectors"])]
        if len(self.subset) < 10:
            raise ValueError("too few training points in the sector")
        self.generator = make_generator(seed, self.device)
        group = PointGroup(self.knobs["group_order"], self.knobs["reflections"])
        self.plain = seeded(seed, lambda: SimpleEBM(2, hidden, depth)).to(self.device)
        # averaged over the group, its base MLP starts from the plain model's weights (the same seed)
        self.equivariant = seeded(seed, lambda: EquivariantEBM(group, mode=cfg["mode"], hidden=hidden, depth=depth))
        self.equivariant.to(self.device)
        self.latent = seeded(seed, lambda: LatentEBM(2, cfg["latent_dim"], hidden, depth,
                                                     marginal_samples=cfg["marginal_samples"])).to(self.device)
        subset_batch = lambda n, g: self.data.batch(n, g, self.subset)   # noqa: E731
        cd = CDConfig(batch_size=cfg["batch_size"], max_chain_norm=3 * self.data.radius)
        self.trainers = {
            "equivariant": ContrastiveDivergence(self.equivariant, subset_batch, self.data.uniform, cd,
                                                 generator=make_generator(seed, self.device)),
            "plain": ContrastiveDivergence(self.plain, subset_batch, self.data.uniform, cd.replace(),
                                           generator=make_generator(seed, self.device)),
        }
        self.latent_trainer = LatentEBMTrainer(self.latent, self.data.batch, self.data.uniform,
                                               LatentEBMConfig(batch_size=cfg["batch_size"],
                                                               max_chain_norm=3 * self.data.radius),
                                               generator=make_generator(seed + 1, self.device))
        self.readouts: dict[str, Any] = {}
        self.readout_refresh = Refresh(lambda: self.config["readout_every_s"])
        self.surface_keys: dict[str, tuple] = {}   # per density: ((weights, group), resolution) it was drawn with
        self.surfaces_coarse = False
        self.surface_refresh = Refresh(cfg["surface_every_s"], cfg["surface_share"])
        self.latent_density = RollingLatentDensity(self.data.bounds, cfg["latent_resolution"], cfg["marginal_samples"],
                                                   cfg["marginal_samples"] // cfg["latent_draws_per_roll"],
                                                   make_generator(seed + 2, self.device))
        self.latent_refresh = Refresh(cfg["latent_every_s"], cfg["latent_share"])
        self.true_mass_off = None
        if self.data.log_prob is not None:
            _, _, e = energy_on_grid(lambda x: -self.data.log_prob(x.double()).float(), self.data.bounds,
                                     cfg["nll_resolution"], device=self.device)
            self.true_mass_off = self.mass_off_sector(e)
        self.on_knobs(self.knobs.as_dict())

    @property
    def group(self) -> PointGroup:
        return self.equivariant.group

    def on_knobs(self, changed: dict[str, Any]) -> None:
        k = self.knobs
        self.equivariant.group = PointGroup(k["group_order"], k["reflections"])
        for trainer in self.trainers.values():
            trainer.update_config(lr=k["lr"], step_size=k["step_size"])
        self.latent_trainer.update_config(lr=k["lr"], step_size=k["latent_step_size"])
        if changed:
            self.readout_refresh.invalidate()
            self.surface_refresh.invalidate()

    @property
    def trained(self) -> tuple[str, ...]:
        """The energies this job trains: all three on the page, those of one catalog model headless."""
        return MODEL_PARTS[self.config["model"]]

    def advance(self) -> None:
        for name, trainer in self.trainers.items():
            if name not in self.trained:
                continue
            self.warn_if_diverged(trainer.step(), trainer, f"The {name} model")
        if "latent" in self.trained:
            self.warn_if_diverged(self.latent_trainer.step(), self.latent_trainer, "The latent model")

    def model_name(self) -> str:
        return self.config["model"]

    def model_modules(self) -> dict[str, torch.nn.Module]:
        """The energies of the current model: equivariant and plain, the latent-variable one, or all three."""
        return self.checkpoint_modules({"model": self.config["model"]})

    def checkpoint_modules(self, header: dict[str, Any]) -> dict[str, torch.nn.Module]:
        """The parts a checkpoint holds: the page loads an ``equivariant_ebm`` or ``latent_ebm`` file
        into the matching energies and keeps training the others."""
        modules = {"equivariant": self.equivariant, "plain": self.plain, "latent": self.latent}
        return {name: modules[name] for name in MODEL_PARTS.get(str(header.get("model")), ())}

    def resumable_trainers(self) -> dict[str, Any]:
        trainers = {**self.trainers, "latent": self.latent_trainer}
        return {name: trainer for name, trainer in trainers.items() if name in self.trained}

    def after_load(self) -> None:
        self.readout_refresh.invalidate()
        self.surface_refresh.invalidate()

    def recover(self) -> str:
        for trainer in self.trainers.values():
            trainer.restore_last_good()
        self.latent_trainer.restore_last_good()
        return "weights restored from the last good iteration"

    # --- readouts ------------------------------------------------------------------------------
    def mass_off_sector(self, energy_grid: torch.Tensor) -> float:
        """Share of the density outside the training sector, within the largest disc in the box.

        The disc (unlike the square box) is invariant under every rotation and reflection, so an
        invariant density under C_n puts exactly ``1 - 1/sectors`` of this mass off a 1/n wedge.
        """
        p = grid_density(energy_grid, self.data.bounds, 1.0).exp().flatten()
        centres = grid_points(self.data.bounds, energy_grid.shape[0], self.device)[2]
        in_disc = centres.norm(dim=1) <= min(abs(v) for b in self.data.bounds for v in b)
        inside = in_sector(centres, self.config["sectors"])
        return float(p[in_disc & ~inside].sum() / p[in_disc].sum())

    def _refresh_surfaces(self) -> Generator:
        """Both densities on the display grid (the equivariant one costs |G| base evaluations per point).
        While a knob moves they are drawn at half the resolution (a quarter of the cost: D9's 18-element
        average on 96² points takes ~100 ms), and at the full one once it rests; a density whose model
        and group did not change since it was drawn (at this resolution or finer) is kept."""
        started = time.perf_counter()
        coarse = self.wait_for_knobs()
        resolution = self.config["resolution"] // 2 if coarse else self.config["resolution"]
        for name, model in (("equivariant", self.equivariant), ("plain", self.plain)):
            key = (weights_version(model), self.group.name if model is self.equivariant else None)
            drawn_key, drawn_resolution = self.surface_keys.get(name, (None, 0))
            if drawn_key == key and drawn_resolution >= resolution:
                continue
            e = yield from self._energy_grid(model, resolution)
            self.parts.put(f"{name}_density", density_view(grid_density(e, self.data.bounds, 1.0), f"{name}_density"))
            self.surface_keys[name] = (key, resolution)
        self.surfaces_coarse = coarse
        self.surface_refresh.done(self.step_count, time.perf_counter() - started)

    def _latent_density_key(self) -> tuple:
        """What the latent density's refresh waits on: each roll while a group is behind the current
        weights (also paused, until every group has them), nothing once all are drawn with them."""
        version = weights_version(self.latent)
        return (version, self.latent_density.rolls if self.latent_density.behind(version) else "settled")

    def _roll_latent_density(self, key: tuple) -> None:
        """A group of the latent density's draws renewed at the current weights (one of 32 draws: ~2.5 ms)."""
        started = time.perf_counter()
        version = weights_version(self.latent)
        if self.latent_density.behind(version):
            self.latent.eval()
            self.latent_density.roll(self.latent, version)
            self._publish_latent_density()
        self.latent_refresh.done(key, time.perf_counter() - started)

    def _energy_grid(self, model, resolution: int) -> Generator:
        """``model``'s energy on a grid over the box, as steps. The equivariant energy is invariant under its
        group; with the quarter turn in it, the grid costs a quarter."""
        model.eval()
        quarter_turn = model is self.equivariant and self.group.has_quarter_turn
        return (yield from energy_on_grid.steps(model, self.data.bounds, resolution, quarter_turn=quarter_turn))[2]

    def _log_z(self, energy_grid: torch.Tensor) -> float:
        """``log ∫ exp(-E)`` over the box by midpoint quadrature on an energy grid."""
        (x0, x1), (y0, y1) = self.data.bounds
        cell = (x1 - x0) * (y1 - y0) / energy_grid.numel()
        return float(torch.logsumexp(-energy_grid.flatten().double(), 0)) + math.log(cell)

    def _refresh_readouts(self) -> Generator:
        """NLLs, the mass outside the sector and invariance errors of both energies; the latent model's
        marginal drawn whole and its NLL; as steps."""
        cfg, test = self.config, self.data.test
        out: dict[str, Any] = {"nll_true": self.data.true_nll, "mass_off_true": self.true_mass_off}
        for name, model in (("equivariant", self.equivariant), ("plain", self.plain)):
            e = yield from self._energy_grid(model, cfg["nll_resolution"])
            with torch.no_grad():
                out[f"nll_{name}"] = float(model(test).double().mean()) + self._log_z(e)
            out[f"mass_off_{name}"] = self.mass_off_sector(e)
            out[f"invariance_{name}"] = relative_invariance_error(model, self.group, test[:500])
            yield
        self.latent.eval()
        self.latent_density.fill(self.latent, weights_version(self.latent))
        e_latent = self.latent_density.energy_grid()
        with torch.no_grad():
            e_test, se_test = self.latent.marginal_energy(test[:500], cfg["marginal_samples"], self.generator)
            z_data = self.latent.encode(self.data.train[:600])[0][:, 0]
        out.update({"nll_latent": float(e_test.double().mean()) + self._log_z(e_latent),
                    "marginal_se": float(se_test.mean()),
                    "latent_of_data": to_numpy(z_data)})
        self.readouts = out
        self._publish_latent_density()
        self.readout_refresh.mark(self.step_count)

    def _publish_latent_density(self) -> None:
        """The latent model's marginal density as drawn now: a new version of its part."""
        energy = self.latent_density.energy_grid()
        self.parts.put("latent_density", density_view(grid_density(energy, self.data.bounds, 1.0), "latent_density"))

    def payload(self) -> dict[str, Any]:
        cfg, parts = self.config, self.parts
        # a knob's answer goes out first
        if self.readout_refresh.elapsed() and not (self.readouts and self.wait_for_knobs()):
            self.readout(self._refresh_readouts())
        data_key = (cfg["dataset"], cfg["seed"], cfg["sectors"])
        snap: dict[str, Any] = {
            "bounds": self.data.bounds,
            "data": parts.part("data", data_key, lambda: to_numpy(self.data.train[:600])),
            "subset": parts.part("subset", data_key, lambda: to_numpy(self.subset[:400]))}
        if self.surfaces_coarse and not self.wait_for_knobs():   # the knob rests: the full resolution
            self.surface_refresh.invalidate()
        if self.surface_refresh.due(self.step_count):
            if self.wait_for_knobs():
                finish(self._refresh_surfaces())    # the knob's answer (half resolution): always sent
            else:                                   # full resolution (30-100 ms): gives way to a command
                self.readout(self._refresh_surfaces())
        key = self._latent_density_key()
        if self.latent_refresh.due(key) and not self.wait_for_knobs():   # a knob's answer skips it
            self._roll_latent_density(key)
        for name in ("equivariant_density", "plain_density", "latent_density"):   # put by their refreshes
            snap.update(parts.get(name, {}))
        for name, trainer in self.trainers.items():
            negatives = trainer.last_negatives   # replaced by each iteration
            snap[f"{name}_negatives"] = parts.part(f"{name}_negatives", same_object(negatives),
                                                   lambda: to_numpy(negatives[:300]))
        joint = self.latent_trainer.last_negatives
        snap.update(parts.part("joint", same_object(joint),
                               lambda: {"joint_samples": to_numpy(joint[:400, :2]),
                                        "joint_latents": to_numpy(joint[:400, 2])}))
        # the readouts (with the encoder's latent of each data point) are replaced whole by each refresh;
        # the group and the training subset as they are now (the readouts may wait for a moving knob)
        return {**snap, **parts.part("readouts", same_object(self.readouts), lambda: self.readouts),
                "group_name": self.group.name, "group_order": self.group.order, "subset_size": len(self.subset)}
