"""The last good weights and optimiser state of a trainer, to return to after a divergence."""
from __future__ import annotations

import copy

from torch import nn
from torch.optim import Optimizer


class LastGoodState:
    """Copies of ``(module, optimiser)`` pairs taken at a step known to be good.

    ``capture(step)`` saves them; ``restore()`` loads them back. The optimiser state is copied on
    the way back too: ``load_state_dict`` aliases the saved tensors, and later in-place updates
    (Adam's moments) would otherwise overwrite the checkpoint itself. Trainers re-apply their
    live settings (learning rates) after a restore, since the saved state carries the old ones.
    """

    def __init__(self, pairs: list[tuple[nn.Module, Optimizer]], step: int = 0):
        self.pairs = pairs
        self.capture(step)

    def capture(self, step: int) -> None:
        self._saved = [(copy.deepcopy(m.state_dict()), copy.deepcopy(o.state_dict())) for m, o in self.pairs]
        self.step = step

    def restore(self) -> None:
        for (module, optimizer), (weights, moments) in zip(self.pairs, self._saved):
            module.load_state_dict(weights)
            optimizer.load_state_dict(copy.deepcopy(moments))
