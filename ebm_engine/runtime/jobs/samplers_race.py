"""Race job: two or three samplers side by side on one target, same start, same gradient budget.

Each step gives every racer the same number of gradient evaluations: Langevin and MALA spend one
per step, HMC one per leapfrog step, so HMC takes fewer, longer steps. The diagnostics then say
which sampler buys the most effective samples per gradient.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

import param
import torch

from ebm_engine.metrics.partition import energy_on_grid
from ebm_engine.runtime.job import to_numpy
from ebm_engine.runtime.views.chain_record import ChainRecord
from ebm_engine.runtime.refresh import Refresh
from ebm_engine.runtime.views.surface import density_view, grid_density
from ebm_engine.runtime.parts import same_object
from ebm_engine.energies.targets import TARGETS
from ebm_engine.runtime.controls import KNOB, LOG_KNOB, Controls
from ebm_engine.runtime.jobs.samplers import TRAINED, ChainsJob, make_kernel
from ebm_engine.samplers.compiled import path_of

SLICE_S = 0.015   # longest piece of a round while the page plays


class Racer:
    """One sampler of the race with its chains and records."""

    def __init__(self, name: str, energy, x0: torch.Tensor, n_leapfrog: int, trail: int, window: int):
        self.name = name
        self.n_leapfrog = n_leapfrog
        self.kernel = make_kernel(name, 0.1, n_leapfrog, 1.0)
        self.state = self.kernel.init(energy, x0.clone())
        self.record = ChainRecord(len(x0), 2, trail, window)
        self.grad_debt = 0.0   # gradient evaluations owed from the last round (HMC steps are lumpy)
        self.chains_reset = 0

    @property
    def grads_per_step(self) -> int:
        return self.kernel.grad_evals_per_step()


class RaceControls(Controls):
    target = param.Selector(default="banana", objects=sorted(TARGETS) + [TRAINED], label="Target")
    racers = param.Selector(default="langevin,mala,hmc",
                            objects=["langevin,mala,hmc", "mala,hmc", "langevin,mala", "langevin,hmc"],
                            label="Racers")
    n_chains = param.Integer(default=16, bounds=(2, 256), label="Chains per sampler")
    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed")
    trail = param.Integer(default=24, bounds=(1, 1000), precedence=-1)
    window = param.Integer(default=1000, bounds=(10, 100_000), precedence=-1)
    resolution = param.Integer(default=96, bounds=(8, 1024), precedence=-1)
    diagnostics_every_s = param.Number(default=0.5, bounds=(0.0, None), precedence=-1)

    step_langevin = param.Number(default=0.05, bounds=(1e-4, 1e3), softbounds=(1e-3, 2.0), label="Langevin ε",
                                 metadata=LOG_KNOB)
    step_mala = param.Number(default=0.2, bounds=(1e-4, 1e3), softbounds=(1e-3, 2.0), label="MALA ε",
                             metadata=LOG_KNOB)
    step_hmc = param.Number(default=0.2, bounds=(1e-4, 1e3), softbounds=(1e-3, 2.0), label="HMC ε",
                            metadata=LOG_KNOB)
    n_leapfrog = param.Integer(default=10, bounds=(1, 100), label="HMC leapfrog steps", metadata=KNOB)
    budget = param.Integer(default=20, bounds=(1, 1000), softbounds=(1, 200), label="Gradients per round",
                           doc="gradient evaluations per round, for each sampler", metadata=KNOB)
    temperature = param.Number(default=1.0, bounds=(0.05, 20.0), softbounds=(0.1, 5.0), step=0.05,
                               label="Temperature T", metadata=KNOB)
    speed = param.Number(default=15.0, bounds=(0.5, 500.0), label="Rounds per second", doc="rounds per second",
                         metadata=LOG_KNOB)


class RaceJob(ChainsJob):
    """Several samplers race on the same target; each round spends the same gradient budget."""

    KIND = "race"
    CONTROLS = RaceControls

    def build(self) -> None:
        names = self.config["racers"].split(",")   # one of the declared line-ups
        self.build_target()
        x0 = self._fresh_starts(self.config["n_chains"])
        self.racers = [Racer(n, self.energy, x0, self.knobs["n_leapfrog"], self.config["trail"],
                             self.config["window"]) for n in names]
        self.diag: dict[str, dict] = {}
        self.diag_refresh = Refresh(lambda: self.config["diagnostics_every_s"])
        self.in_round = False   # a round's steps are under way (its budget was handed out)
        _, _, self.grid = energy_on_grid(self.energy, self.bounds, self.config["resolution"])

    def on_knobs(self, changed: dict[str, Any]) -> None:
        if "n_leapfrog" in changed:
            for racer in self.racers:
                racer.n_leapfrog = self.knobs["n_leapfrog"]
                racer.kernel = make_kernel(racer.name, 0.1, racer.n_leapfrog, 1.0)
        if changed:
            for racer in self.racers:
                racer.record.restart()

    def advance(self) -> None:
        self.run_for(self._round_steps(), None)

    def advance_slice(self, seconds: float) -> bool:
        """The round's steps for ``SLICE_S`` at most while playing, so that a knob change waits for a
        short slice, not a whole round on a busy machine; True when the round is done."""
        return self.run_for(self._round_steps(), min(seconds, SLICE_S))

    def _round_steps(self) -> Generator:
        """The steps of the current round (a new one if none is under way). Every slice takes at least one:
        the steps yield before each step but the first."""
        if not self.in_round:   # a new round: every racer is owed the same gradient budget
            for racer in self.racers:
                racer.grad_debt += self.knobs["budget"]
            self.in_round = True
        stepped = False
        for racer in self.racers:
            step_size = self.knobs[f"step_{racer.name}"]
            while racer.grad_debt >= racer.grads_per_step:
                if stepped:
                    yield
                stepped = True
                _, lost = self._step_chains(racer, step_size)
                racer.grad_debt -= racer.grads_per_step
                if lost:
                    self.warn(f"{racer.name}: {lost} chain(s) ran away and were "
                              f"restarted ({racer.chains_reset} in all); lower its step size")
        self.in_round = False

    def payload(self) -> dict[str, Any]:
        parts, temperature = self.parts, self.knobs["temperature"]
        diag = self._diagnostics(lambda: {racer.name: racer.record.diagnostics() for racer in self.racers})

        def chains(racer: Racer) -> dict[str, Any]:
            # a racer's chains move by new states only (kernel steps, restarts), its trails with them
            return parts.part(f"chains_{racer.name}", same_object(racer.state),
                              lambda: {"trails": racer.record.trails(), "positions": to_numpy(racer.state.x),
                                       "last_accepted": racer.record.last_accepted})

        return {
            "bounds": self.bounds,
            **parts.part("density", temperature,
                         lambda: density_view(grid_density(self.grid, self.bounds, temperature))),
            "racers": [{"name": r.name, **chains(r), "grad_evals": r.record.grad_evals,
                        "diagnostics": diag.get(r.name, {})} for r in self.racers],
            "sampler_path": path_of([r.kernel for r in self.racers]),
        }
