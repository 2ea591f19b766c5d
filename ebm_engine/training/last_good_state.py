"""The last good weights and optimiser state of a trainer, to return to after a divergence."""
from __future__ import annotations

import copy
from typing import Callable

from torch import nn
from torch.optim import Optimizer


class LastGoodState:
    """Copies of ``(module, optimiser)`` pairs taken at a step known to be good.

    ``capture(step)`` saves them; ``restore()`` loads them back. The optimiser state is copied on
    the way back too: ``load_state_dict`` aliases the saved tensors, and later in-place updates
    (Adam's moments) would otherwise overwrite the checkpoint itself. ``after_restore`` lets the
    trainer re-apply its live settings (learning rates), since the saved state carries the old ones.

    ``settle(step, diverged)`` is the end of every training step: roll back after a divergence,
    else take a copy every ``every`` steps. Under data-parallel training ``agree`` turns this
    process's verdict into the verdict of all processes (any of them diverged), so that every
    rank rolls back together and the replicas never drift apart.
    """

    def __init__(self, pairs: list[tuple[nn.Module, Optimizer]], step: int = 0, every: int = 25,
                 after_restore: Callable[[], None] | None = None):
        self.pairs = pairs
        self.every = every
        self.after_restore = after_restore
        self.agree: Callable[[bool], bool] | None = None
        self.divergences = 0
        self.capture(step)

    def capture(self, step: int) -> None:
        self._saved = [(copy.deepcopy(m.state_dict()), copy.deepcopy(o.state_dict())) for m, o in self.pairs]
        self.step = step

    def restore(self) -> None:
        for (module, optimizer), (weights, moments) in zip(self.pairs, self._saved):
            module.load_state_dict(weights)
            optimizer.load_state_dict(copy.deepcopy(moments))
        if self.after_restore is not None:
            self.after_restore()

    def settle(self, step: int, diverged: bool) -> bool:
        """Close training step ``step``: restore on divergence (counted), else capture when due.

        Returns the verdict acted on (with ``agree`` set: whether any process diverged).
        """
        if self.agree is not None:
            diverged = bool(self.agree(bool(diverged)))
        if diverged:
            self.divergences += 1
            self.restore()
        elif self.every > 0 and step % self.every == 0:
            self.capture(step)
        return diverged
