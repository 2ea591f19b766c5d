"""A training iteration's negative chains, run a slice at a time so a live view can show them moving.

The chains take exactly the kernel steps (and random draws) they would take in one go: cutting the
run into slices changes when the steps happen, not what they compute. The model's weights are
frozen during each slice (no parameter gradients are built while sampling).
"""
from __future__ import annotations

import time

import torch

from ebm_engine.energies.frozen import frozen
from ebm_engine.interruption import slice_should_end
from ebm_engine.samplers.state import SamplerState


class InFlightChains:
    """Chains started from ``x`` (buffer rows ``idx``) under ``kernel`` on ``energy``; ``run`` advances them.
    ``model`` (whose weights ``energy`` uses) is frozen while they move, and in eval mode with ``eval_mode``."""

    def __init__(self, kernel, energy, model: torch.nn.Module, x: torch.Tensor, idx: torch.Tensor,
                 eval_mode: bool = False):
        self.kernel, self.energy, self.model, self.idx, self.eval_mode = kernel, energy, model, idx, eval_mode
        with frozen(model, eval_mode):
            self.state: SamplerState = kernel.init(energy, x)
        self.steps_done = 0

    @property
    def x(self) -> torch.Tensor:
        return self.state.x

    def run(self, steps: int, step_size: float, temperature: float, generator: torch.Generator | None,
            seconds: float | None = None) -> bool:
        """Advance towards ``steps`` steps in total, for about ``seconds`` (None: to the end); True when there."""
        deadline = None if seconds is None else time.perf_counter() + seconds
        with frozen(self.model, self.eval_mode):
            while self.steps_done < steps:
                self.state, _ = self.kernel.step(self.energy, self.state, step_size, temperature, generator)
                self.steps_done += 1
                if deadline is not None and (time.perf_counter() >= deadline or slice_should_end()):
                    break   # the slice's time is up, or a command waits for the engine
        return self.steps_done >= steps
