"""Flat tensor dicts of a trainer's resumable state: optimiser moments, replay buffer, random generator.

Checkpoints hold tensors only (``torch.load(weights_only=True)``), so nested optimiser state is
flattened to ``"optimizer.<param index>.<name>"`` keys and rebuilt on load; learning rates and the
other hyper-parameters come from the live knobs, not from the file. A job's main trainer uses the
``train.`` prefix, any other trainer ``train.<name>.``; a trainer with more state than these parts
(persistent chains, the position in an epoch) hands it over as ``resume_state()`` and takes it back
with ``load_resume_state(state)``, under ``<prefix>extra.``.
"""
from __future__ import annotations

from contextlib import contextmanager, suppress
from typing import Any, Iterator

import torch

PREFIX = "train."


@contextmanager
def untouched(generator: torch.Generator | None) -> Iterator[None]:
    """Draw from ``generator`` inside the block without moving its stream (e.g. fresh display chains
    after a load), so that a resumed run draws the very numbers an uninterrupted one does."""
    saved = generator.get_state() if generator is not None else None
    try:
        yield
    finally:
        if generator is not None:
            generator.set_state(saved)


def _optimizers(trainer: Any) -> dict[str, torch.optim.Optimizer]:
    """The trainer's optimisers by attribute name (``optimizer``, ``energy_optimizer``, ...)."""
    if trainer is None:
        return {}
    return {name: value for name, value in sorted(vars(trainer).items())
            if isinstance(value, torch.optim.Optimizer)}


def prefix_of(name: str) -> str:
    """The key prefix of a trainer's state: ``train.`` for the main one (``""``), ``train.<name>.`` otherwise."""
    return f"{PREFIX}{name}." if name else PREFIX


def trainer_state(trainer: Any, generator: torch.Generator | None, name: str = "") -> dict[str, torch.Tensor]:
    """What a trainer needs to continue exactly where it stopped (the parts it has)."""
    prefix = prefix_of(name)
    out: dict[str, torch.Tensor] = {}
    for attribute, optimizer in _optimizers(trainer).items():   # nested optimiser state as flat keys
        out.update({f"{prefix}{attribute}.{index}.{key}": value
                    for index, entry in optimizer.state_dict()["state"].items()
                    for key, value in entry.items() if isinstance(value, torch.Tensor)})
    buffer = getattr(trainer, "buffer", None)
    if buffer is not None and isinstance(getattr(buffer, "store", None), torch.Tensor):
        out[prefix + "buffer"] = buffer.store
    if generator is not None:
        out[prefix + "generator"] = generator.get_state()
    if hasattr(trainer, "step_count"):
        out[prefix + "step_count"] = torch.tensor(int(trainer.step_count))
    if hasattr(trainer, "resume_state"):
        out.update({f"{prefix}extra.{key}": value for key, value in trainer.resume_state().items()})
    return out


def load_trainer_state(trainer: Any, generator: torch.Generator | None, state: dict[str, torch.Tensor],
                       name: str = "") -> list[str]:
    """Restore what ``trainer_state`` saved (skipping parts that do not fit); returns the parts restored."""
    prefix = prefix_of(name)
    restored = []
    if getattr(trainer, "in_flight", None) is not None:   # chains of an unfinished iteration belong to the old state
        trainer.in_flight = None
    for attribute, optimizer in _optimizers(trainer).items():
        start, entries = f"{prefix}{attribute}.", {}
        with suppress(ValueError, RuntimeError, KeyError):
            for key, value in state.items():
                if key.startswith(start):
                    index, part = key[len(start):].split(".", 1)
                    entries.setdefault(int(index), {})[part] = value
            if entries:
                optimizer.load_state_dict({"state": entries, "param_groups": optimizer.state_dict()["param_groups"]})
                restored.append(attribute)
    buffer = getattr(trainer, "buffer", None)
    saved = state.get(prefix + "buffer")
    if buffer is not None and saved is not None and saved.shape == buffer.store.shape:
        buffer.store.copy_(saved.to(buffer.store))
        restored.append("replay buffer")
    saved = state.get(prefix + "generator")
    if generator is not None and saved is not None:
        with suppress(RuntimeError, ValueError):
            generator.set_state(saved.to(torch.uint8).cpu())
            restored.append("random generator")
    if prefix + "step_count" in state and hasattr(trainer, "step_count"):
        trainer.step_count = int(state[prefix + "step_count"])
    extra = {key[len(prefix) + len("extra."):]: value for key, value in state.items()
             if key.startswith(prefix + "extra.")}
    if extra and hasattr(trainer, "load_resume_state"):
        restored += trainer.load_resume_state(extra)
    return restored
