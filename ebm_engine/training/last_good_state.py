"""The trainers' divergence guard: the last good weights and optimiser state to return to, and the
checks that detect a divergence at the cost of one host sync however many parameters a model has.

Checking ``torch.isfinite(p).all()`` parameter by parameter reads a flag back from the GPU per
tensor (dozens of stalls per training iteration); here the flags are combined on the device first.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn
from torch.optim import Optimizer


def parameters_finite(*modules: nn.Module) -> bool:
    """True when every parameter of every module is finite (one device-to-host read)."""
    flags = [torch.isfinite(p).all() for m in modules for p in m.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


def host_values(*values: torch.Tensor | float) -> list[float]:
    """Scalar tensors (any device) as Python floats, read back in one transfer."""
    tensors = [v.detach().float().reshape(()) if isinstance(v, torch.Tensor) else None for v in values]
    on_device = [t for t in tensors if t is not None]
    read = iter(torch.stack([t.to(on_device[0].device) for t in on_device]).tolist()) if on_device else iter(())
    return [next(read) if t is not None else float(v) for t, v in zip(tensors, values)]


def backward_clipped(loss: torch.Tensor, optimizer: Optimizer, module: nn.Module, max_norm: float | None
                     ) -> torch.Tensor:
    """Fresh gradients of ``loss`` for ``optimizer``, clipped on ``module`` to a total norm of ``max_norm``
    (None: no clipping); their norm before clipping."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return nn.utils.clip_grad_norm_(module.parameters(), float("inf") if max_norm is None else max_norm)


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


class GuardedTrainer:
    """What the trainers guarded by a ``LastGoodState`` share; they set ``config``, ``step_count`` and
    ``last_good``."""

    config: object
    step_count: int
    last_good: LastGoodState

    def apply_settings(self) -> None:
        """Put the config's live optimiser settings (``lr``, ``betas``, ``weight_decay``, those it
        declares) on the optimisers."""
        names = [n for n in ("lr", "betas", "weight_decay") if n in self.config.names()]
        for _, optimizer in self.last_good.pairs:
            for group in optimizer.param_groups:
                group.update({n: getattr(self.config, n) for n in names})

    def update_config(self, **changes) -> None:
        """Change hyper-parameters between steps (validated; unknown names raise)."""
        candidate = self.config.replace(**changes)
        if getattr(candidate, "buffer_size", None) != getattr(self.config, "buffer_size", None):
            raise ValueError("buffer_size cannot change during training; reset instead")
        self.config = candidate
        self.apply_settings()

    def finish_step(self, optimizer: Optimizer, finite: bool, *modules: nn.Module) -> bool:
        """Take ``optimizer``'s step unless the step's figures are not ``finite``, count the step and
        settle it (roll back when it or the weights of ``modules`` diverged); returns whether it diverged."""
        diverged = not finite
        if finite:
            optimizer.step()
            diverged = not parameters_finite(*modules)
        self.step_count += 1
        return self.last_good.settle(self.step_count, diverged)

    @property
    def divergences(self) -> int:
        return self.last_good.divergences

    @property
    def last_good_step(self) -> int:
        return self.last_good.step

    def restore_last_good(self) -> None:
        """Back to the last good weights and optimiser moments (after a failed step)."""
        self.last_good.restore()
