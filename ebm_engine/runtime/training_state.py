"""Flat tensor dicts of a trainer's resumable state: optimiser moments, replay buffer, random generator.

Checkpoints hold tensors only (``torch.load(weights_only=True)``), so nested optimiser state is
flattened to ``"optimizer.<param index>.<name>"`` keys and rebuilt on load; learning rates and the
other hyper-parameters come from the live knobs, not from the file.
"""
from __future__ import annotations

from typing import Any

import torch

PREFIX = "train."


def optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str) -> dict[str, torch.Tensor]:
    """Every tensor of the optimiser's per-parameter state, under ``prefix``."""
    out = {}
    for index, entry in optimizer.state_dict()["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                out[f"{prefix}{index}.{name}"] = value
    return out


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, state: dict[str, torch.Tensor], prefix: str) -> bool:
    """Rebuild the optimiser's state from ``optimizer_tensors`` output; False when none was saved."""
    entries: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.startswith(prefix):
            index, name = key[len(prefix):].split(".", 1)
            entries.setdefault(int(index), {})[name] = value
    if not entries:
        return False
    current = optimizer.state_dict()
    optimizer.load_state_dict({"state": entries, "param_groups": current["param_groups"]})
    return True


def _optimizers(trainer: Any) -> dict[str, torch.optim.Optimizer]:
    """The trainer's optimisers by attribute name (``optimizer``, ``energy_optimizer``, ...)."""
    if trainer is None:
        return {}
    return {name: value for name, value in sorted(vars(trainer).items())
            if isinstance(value, torch.optim.Optimizer)}


def trainer_state(trainer: Any, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """What a trainer needs to continue exactly where it stopped (the parts it has)."""
    out: dict[str, torch.Tensor] = {}
    for name, optimizer in _optimizers(trainer).items():
        out.update(optimizer_tensors(optimizer, f"{PREFIX}{name}."))
    buffer = getattr(trainer, "buffer", None)
    if buffer is not None and isinstance(getattr(buffer, "store", None), torch.Tensor):
        out[PREFIX + "buffer"] = buffer.store
    if generator is not None:
        out[PREFIX + "generator"] = generator.get_state()
    if hasattr(trainer, "step_count"):
        out[PREFIX + "step_count"] = torch.tensor(int(trainer.step_count))
    return out


def load_trainer_state(trainer: Any, generator: torch.Generator | None, state: dict[str, torch.Tensor]) -> list[str]:
    """Restore what ``trainer_state`` saved (skipping parts that do not fit); returns the parts restored."""
    restored = []
    for name, optimizer in _optimizers(trainer).items():
        try:
            if load_optimizer_tensors(optimizer, state, f"{PREFIX}{name}."):
                restored.append(name)
        except (ValueError, RuntimeError, KeyError):
            pass
    buffer = getattr(trainer, "buffer", None)
    saved = state.get(PREFIX + "buffer")
    if buffer is not None and saved is not None and saved.shape == buffer.store.shape:
        buffer.store.copy_(saved.to(buffer.store))
        restored.append("replay buffer")
    saved = state.get(PREFIX + "generator")
    if generator is not None and saved is not None:
        try:
            generator.set_state(saved.to(torch.uint8).cpu())
            restored.append("random generator")
        except (RuntimeError, ValueError):
            pass
    if PREFIX + "step_count" in state and hasattr(trainer, "step_count"):
        trainer.step_count = int(state[PREFIX + "step_count"])
    return restored
