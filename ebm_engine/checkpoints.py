"""The lab's one checkpoint format, shared by the app, the CLI and distributed training.

A checkpoint is a ``torch.save`` of a plain dict ``{"format": FORMAT, "header": {...}, "state_dict": {...}}``:
the header is JSON-able (model name, constructor arguments, data set, training step, metrics, library
versions) and the state dict holds tensors only, so files load with ``torch.load(weights_only=True)``.
Saves are atomic: the bytes go to a temporary file in the same folder, are flushed and fsynced, then
renamed over the target, so a crash or a full disk during a save never loses the previous checkpoint.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy
import torch

from ebm_engine import __version__

FORMAT = "ebm-lab-checkpoint/1"
SUFFIX = ".pt"
HEADER_FIELDS = ("model", "model_args", "data", "step", "metrics", "versions")


class CheckpointError(ValueError):
    """A checkpoint could not be written or read; the message says why in one line."""


def make_header(model: str, model_args: Mapping[str, Any] | None = None, data: str | None = None,
                step: int = 0, metrics: Mapping[str, float] | None = None, **extra: Any) -> dict[str, Any]:
    """A complete header; ``extra`` holds anything else JSON-able (training config, seed, ...)."""
    versions = {"ebm_lab": str(__version__), "torch": torch.__version__, "numpy": numpy.__version__,
                "python": platform.python_version()}   # for reading old checkpoints with care
    header = {"model": str(model), "model_args": dict(model_args or {}), "data": data, "step": int(step),
              "metrics": {k: float(v) for k, v in (metrics or {}).items()}, "versions": versions, **extra}
    try:
        json.dumps(header, allow_nan=True)
    except TypeError as exc:
        raise CheckpointError(f"checkpoint header is not JSON-able: {exc}") from None
    return header


def _cpu_tensors(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor")
        out[str(key)] = value.detach().to("cpu").clone()
    return out


def save_checkpoint(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor],
                    header: Mapping[str, Any]) -> Path:
    """Write a checkpoint atomically (temp file, fsync, rename); returns the final path."""
    path = Path(path)
    missing = [f for f in HEADER_FIELDS if f not in header]
    if missing:
        raise CheckpointError(f"checkpoint header lacks {missing}; build it with make_header()")
    if not path.parent.is_dir():
        raise CheckpointError(f"folder {path.parent} does not exist")
    payload = {"format": FORMAT, "header": json.loads(json.dumps(dict(header))),
               "state_dict": _cpu_tensors(state_dict)}
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, Exception):  # OSError (disk full, ...) or the zip writer's RuntimeError
            reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc).strip().splitlines()[0]
            raise CheckpointError(f"could not save {path.name}: {reason}; "
                                  "the previous checkpoint is intact") from None
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a folder)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def load_checkpoint(path: str | os.PathLike,
                    expected_model: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``(state_dict, header)``; a missing, truncated, foreign or wrong-model file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path.name} is not a readable checkpoint (truncated or foreign file): "
                              f"{reason[:160]}") from None
    except Exception as exc:  # pickle errors from foreign files come in many types
        raise CheckpointError(f"{path.name} is not a lab checkpoint: {type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not an EBM Lab checkpoint (format {FORMAT} expected)")
    header, state = payload.get("header"), payload.get("state_dict")
    if not isinstance(header, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{path.name} is damaged: header or weights missing")
    if expected_model is not None and header.get("model") != expected_model:
        raise CheckpointError(f"{path.name} holds a {header.get('model')!r} model, not {expected_model!r}")
    return state, header


def load_weights(module: torch.nn.Module, state: Mapping[str, torch.Tensor], prefix: str,
                 what: str = "this model") -> None:
    """Load the ``<prefix>.*`` entries of a checkpoint's state into ``module``; a one-line
    ``CheckpointError`` when there are none or they do not fit ``what``."""
    weights = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}
    if not weights:
        raise CheckpointError(f"the checkpoint has no weights for the {prefix!r} part of {what}")
    try:
        module.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"the checkpoint's weights do not fit {what}: "
                              f"{str(exc).strip().splitlines()[0][:160]}") from None


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """Only the header (for listing checkpoints); same errors as ``load_checkpoint``."""
    return load_checkpoint(path)[1]
