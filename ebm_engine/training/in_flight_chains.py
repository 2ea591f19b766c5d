"""A training iteration's negative chains, advanced as steps so a live view can show them moving.

The chains take exactly the kernel steps (and random draws) they would take in one go: driving them
in slices changes when the steps happen, not what they compute. The model's weights are frozen while
the steps are taken (no parameter gradients are built while sampling).
"""
from __future__ import annotations

import torch

from ebm_engine.energies.frozen import frozen
from ebm_engine.samplers.state import SamplerState
from ebm_engine.stepwise import Steps


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

    def advance(self, steps: int, step_size: float, temperature: float,
                generator: torch.Generator | None) -> Steps:
        """Take the chains towards ``steps`` kernel steps in total, yielding between steps. The weights
        stay frozen until the steps end or are closed (close them when you stop taking them)."""
        with frozen(self.model, self.eval_mode):
            while self.steps_done < steps:
                self.state, _ = self.kernel.step(self.energy, self.state, step_size, temperature, generator)
                self.steps_done += 1
                if self.steps_done < steps:
                    yield
