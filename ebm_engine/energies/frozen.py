"""Freezing a module's weights: for sampling, scoring or any pass that needs gradients in ``x`` only.

``frozen`` is a context: inside it no parameter requires a gradient (so autograd builds no graph
through the weights), and with ``eval_mode`` the module runs in eval mode; the flags and the mode
are restored on the way out, whatever they were. ``frozen_copy`` is the permanent version, on a copy.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def frozen(module: nn.Module, eval_mode: bool = False) -> Iterator[nn.Module]:
    """The module's parameters stop requiring gradients inside the block (and, with ``eval_mode``, it
    runs in eval mode); each parameter's flag and the module's mode are restored after."""
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    was_training = module.training
    module.requires_grad_(False)
    if eval_mode:
        module.eval()
    try:
        yield module
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
        if eval_mode:
            module.train(was_training)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` in eval mode whose parameters never require gradients."""
    snapshot = copy.deepcopy(module).eval()
    snapshot.requires_grad_(False)
    return snapshot
