"""Samplers job: run Langevin, MALA or HMC chains on a 2D target live, with diagnostics.

Every knob (sampler, step size, leapfrog steps, temperature, noise, number of chains, speed)
acts on the next step. The diagnostics window restarts when a sampling knob changes, so the
numbers always describe the current settings. Diverged chains (non-finite, or far outside the
plot) are counted, reset and reported.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import param
import torch

from ebm_engine.device import make_generator
from ebm_engine.energies.frozen import frozen_copy
from ebm_engine.energies.targets import TARGETS
from ebm_engine.metrics.partition import energy_on_grid
from ebm_engine.runtime.controls import KNOB, LOG_KNOB, Controls
from ebm_engine.runtime.job import Job, to_numpy
from ebm_engine.runtime.views.chain_record import ChainRecord
from ebm_engine.runtime.refresh import Refresh
from ebm_engine.runtime.views.surface import density_view, energy_range, exact_marginals, grid_density
from ebm_engine.runtime.parts import same_object
from ebm_engine.samplers import HMC, MALA, DualAveraging, Langevin
from ebm_engine.samplers.adaptation import DEFAULT_TARGET_ACCEPT
from ebm_engine.samplers.compiled import for_pages, path_of

TRAINED = "trained (Energy Landscape)"
SAMPLING_KNOBS = {"sampler", "step_size", "n_leapfrog", "temperature", "noise", "n_chains"}


def make_kernel(name: str, step_size: float, n_leapfrog: int, noise: float):
    """The kernel named ``name`` with the knobs that shape it, compiled in the background (``for_pages``)."""
    if name == "langevin":
        return for_pages(Langevin(noise_scale=None if noise == 1.0 else noise * math.sqrt(2 * step_size)))
    if name == "mala":
        return for_pages(MALA())
    if name == "hmc":
        return for_pages(HMC(n_leapfrog=n_leapfrog))
    raise ValueError(f"unknown sampler {name!r}")


class SamplerControls(Controls):
    target = param.Selector(default="banana", objects=sorted(TARGETS) + [TRAINED], label="Target",
                            doc="the energy to sample")
    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed")
    trail = param.Integer(default=24, bounds=(1, 1000), precedence=-1)
    window = param.Integer(default=1500, bounds=(10, 100_000), precedence=-1)
    resolution = param.Integer(default=128, bounds=(8, 1024), precedence=-1)
    diagnostics_every_s = param.Number(default=0.5, bounds=(0.0, None), precedence=-1)

    sampler = param.Selector(default="mala", objects={"Langevin": "langevin", "MALA": "mala", "HMC": "hmc"},
                             label="Sampler", metadata=KNOB)
    step_size = param.Number(default=0.1, bounds=(1e-4, 1e3), softbounds=(1e-3, 2.0), label="Step size ε",
                             doc="ε: the Langevin/MALA step, the HMC leapfrog step", metadata=LOG_KNOB)
    n_leapfrog = param.Integer(default=10, bounds=(1, 100), label="Leapfrog steps (HMC)",
                               doc="HMC leapfrog steps per iteration", metadata=KNOB)
    temperature = param.Number(default=1.0, bounds=(0.05, 20.0), softbounds=(0.1, 5.0), step=0.05,
                               label="Temperature T", doc="T in exp(-E/T)", metadata=KNOB)
    noise = param.Number(default=1.0, bounds=(0.0, 3.0), step=0.05, label="Langevin noise (× √2ε)",
                         doc="the Langevin noise's standard deviation, in units of √(2ε)", metadata=KNOB)
    n_chains = param.Integer(default=32, bounds=(1, 1024), softbounds=(1, 256), label="Chains", metadata=KNOB)
    speed = param.Number(default=30.0, bounds=(1.0, 2000.0), softbounds=(1.0, 500.0), label="Steps per second",
                         doc="sampler steps per second", metadata=LOG_KNOB)


class ChainsJob(Job):
    """What the sampling jobs share: a 2D target, its plotting box, and chains that restart when they run away.
    Their chains are the job's or a racer's: anything with a ``kernel``, a ``state`` and a ``record``."""

    def build_target(self) -> None:
        """The target (an analytic energy, or a frozen copy of the Energy Landscape page's trained model)."""
        self.generator = make_generator(self.config["seed"], self.device)
        self.exact = self.config["target"] != TRAINED
        if self.exact:
            energy = TARGETS[self.config["target"]]()
            self.bounds = energy.bounds
        else:
            landscape = self.peers().get("landscape")
            if landscape is None:
                raise ValueError("no trained energy yet: open the Energy Landscape page and train a model first")
            energy, self.bounds = frozen_copy(landscape.model), landscape.bounds
        self.energy = energy.to(self.device)
        self.box = tuple(torch.tensor(side, device=self.device) for side in zip(*self.bounds))   # (low, high)
        self.escape_radius = 10.0 * float(torch.cat(self.box).abs().max())

    def step_interval(self) -> float:
        return 1.0 / self.knobs["speed"]

    def _fresh_starts(self, n: int) -> torch.Tensor:
        """Fresh chain starts: standard normal draws, clipped to the plotting box."""
        return torch.randn(n, 2, generator=self.generator, device=self.device).clamp(*self.box)

    def _move(self, chains, idx: torch.Tensor, x: torch.Tensor) -> None:
        """Move the chains ``idx`` to ``x``, breaking their trails."""
        positions = chains.state.x.clone()
        positions[idx] = x
        chains.state = chains.kernel.init(self.energy, positions)
        chains.record.cut_trails(idx.cpu().numpy())

    def _step_chains(self, chains, step_size: float):
        """One recorded kernel step of ``chains``, then a fresh start for each chain that is non-finite or far
        outside the plot (unadjusted Langevin can run away; MH kernels reject instead). Returns the step's
        info and how many chains restarted (``chains.chains_reset`` counts them all)."""
        t0 = time.perf_counter()
        chains.state, info = chains.kernel.step(self.energy, chains.state, step_size, self.knobs["temperature"],
                                                self.generator)
        chains.record.record(chains.state.x, info, time.perf_counter() - t0)
        flat = chains.state.x.reshape(len(chains.state.x), -1)
        idx = (~torch.isfinite(flat).all(dim=1) | (flat.norm(dim=1) > self.escape_radius)).nonzero().flatten()
        if len(idx):
            self._move(chains, idx, self._fresh_starts(len(idx)))
        chains.chains_reset += len(idx)
        return info, len(idx)

    def energy_key(self):
        """What the energy surface is made from: a new energy object is a new target."""
        return same_object(self.energy)

    def _diagnostics(self, make):
        """``make()``, the diagnostics, every ``diagnostics_every_s``; the last ones in between."""
        if self.diag_refresh.elapsed():
            self.diag = make()
            self.diag_refresh.mark(self.step_count)
        return self.diag


class SamplerJob(ChainsJob):
    """Live MCMC chains on a 2D target."""

    KIND = "sampler"
    CONTROLS = SamplerControls
    ACTIONS = ("spawn", "autotune")

    def build(self) -> None:
        self.build_target()
        self.record = ChainRecord(self.knobs["n_chains"], 2, self.config["trail"], self.config["window"])
        self.chains_reset = 0
        self.autotuned: float | None = None
        self.diag: dict[str, Any] = {}
        self.diag_refresh = Refresh(lambda: self.config["diagnostics_every_s"])
        self.kernel = self._make_kernel()
        self.state = self.kernel.init(self.energy, self._fresh_starts(self.knobs["n_chains"]))

    # --- chains -----------------------------------------------------------------------------
    def _make_kernel(self):
        k = self.knobs
        return make_kernel(k["sampler"], k["step_size"], k["n_leapfrog"], k["noise"])

    def on_knobs(self, changed: dict[str, Any]) -> None:
        if "n_chains" in changed and changed["n_chains"] != len(self.state.x):
            n_old, n_new = len(self.state.x), changed["n_chains"]
            x = self.state.x[:n_new] if n_new < n_old else torch.cat([self.state.x, self._fresh_starts(n_new - n_old)])
            self.record.resize(n_new, 2)
            self.state = self.kernel.init(self.energy, x)
        if SAMPLING_KNOBS & set(changed):
            self.kernel = self._make_kernel()
            self.state = self.kernel.init(self.energy, self.state.x)
            self.record.restart()
            self.diag_refresh.invalidate()

    def advance(self) -> None:
        info, lost = self._step_chains(self, self.knobs["step_size"])
        if lost:
            self.warn(f"{lost} chain(s) diverged at step {self.step_count + 1} and were reset "
                      f"({self.chains_reset} in all): the step size may be too large.")
        elif info.divergent.float().mean() > 0.5:
            self.warn(f"{int(info.divergent.sum())} of {len(self.state.x)} proposals diverged at step "
                      f"{self.step_count + 1} and were rejected: the step size is too large.")

    # --- actions ----------------------------------------------------------------------------
    def action_spawn(self, x: float, y: float, n: int = 8, spread: float = 0.05) -> None:
        """Restart ``n`` chains (the longest-running ones, by index) near the point (x, y)."""
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError("spawn position must be finite")
        n = max(1, min(int(n), len(self.state.x)))
        start = getattr(self, "spawn_cursor", 0) % len(self.state.x)
        idx = (torch.arange(n, device=self.device) + start) % len(self.state.x)
        self.spawn_cursor = start + n
        centre = torch.tensor([x, y], device=self.device, dtype=self.state.x.dtype)
        self._move(self, idx, centre + spread * torch.randn(n, 2, generator=self.generator,
                                                               device=self.device))
        self.record.restart()

    def action_autotune(self, steps: int = 300, target_accept: float | None = None) -> None:
        """Dual-averaging warm-up from the current chains; sets the step-size knob to the result."""
        name = self.knobs["sampler"]
        if name == "langevin":
            raise ValueError("unadjusted Langevin has no acceptance rate to tune; pick MALA or HMC")
        target = target_accept or DEFAULT_TARGET_ACCEPT[name]
        adapter = DualAveraging(self.knobs["step_size"], target)
        step_size = self.knobs["step_size"]
        for _ in range(int(steps)):
            self.state, info = self.kernel.step(self.energy, self.state, step_size, self.knobs["temperature"],
                                                self.generator)
            step_size = adapter.update(float(info.accept_prob.mean()))
        tuned = float(min(max(adapter.final_step_size, 1e-4), 1e3))
        self.set_knobs(step_size=tuned)
        self.autotuned = tuned

    # --- snapshot ---------------------------------------------------------------------------
    def _energy_surface(self) -> dict[str, Any]:
        _, _, energy = energy_on_grid(self.energy, self.bounds, self.config["resolution"])
        low, high = energy_range(energy)
        return {"energy": to_numpy(energy), "energy_min": low, "energy_max": high}

    def _density_surface(self, energy: np.ndarray, temperature: float) -> dict[str, Any]:
        """The density ``exp(-E/T)/Z`` and its exact marginals."""
        log_p = grid_density(torch.from_numpy(energy), self.bounds, temperature)
        return {**density_view(log_p), **exact_marginals(log_p, self.bounds)}

    def _surfaces(self) -> dict[str, Any]:
        """The energy of the target (a new energy object is a new target: ``ConstraintsJob`` wraps one for
        every change of its constraints) and the density at the temperature."""
        parts, temperature = self.parts, self.knobs["temperature"]
        energy = parts.part("energy", self.energy_key(), self._energy_surface)
        density = parts.part("density", (parts.version("energy"), temperature),
                             lambda: self._density_surface(energy["energy"], temperature))
        return {**energy, **density}

    def _chains(self) -> dict[str, Any]:
        """Positions, trails, marginal histograms and the energy trace of the chains."""
        _, energies = self.record.window()
        trace = energies.mean(axis=1)[-500:] if len(energies) else np.zeros(0, np.float32)
        return {"positions": to_numpy(self.state.x), "trails": self.record.trails(),
                "last_accepted": self.record.last_accepted, **self.record.histograms(self.bounds),
                "energy_trace": trace.astype(np.float64), "trace_end": self.record.n_draws}

    def payload(self) -> dict[str, Any]:
        # every move of the chains makes a new state (a kernel step returns one; spawning, resizing and
        # knob changes make one with ``init``), and every change of the record comes with one
        chains = self.parts.part("chains", same_object(self.state), self._chains)
        return {
            "bounds": self.bounds, "exact": self.exact, **self._surfaces(), **chains,
            "diagnostics": self._diagnostics(self.record.diagnostics), "chains_reset": self.chains_reset,
            "autotuned_step_size": self.autotuned, "n_draws": self.record.n_draws,
            "sampler_path": path_of([self.kernel]), "chains_per_step": len(self.state.x),
        }
