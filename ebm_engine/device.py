"""Device choice and explicit random generators.

The device is chosen once (cuda, then mps, then cpu) and can be overridden by an argument
or by the ``EBM_LAB_DEVICE`` environment variable. Randomness always goes through an explicit
``torch.Generator``: library code never seeds the global generator.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_VALID = ("cpu", "cuda", "mps")

# Matrix products of at most this many multiply-adds run faster on one CPU thread: splitting them
# costs more than it saves, and much more when another process holds a core.
SMALL_PRODUCT = 1 << 22


def select_device(preferred: str | None = None) -> torch.device:
    """Return the device to compute on: ``preferred`` (or $EBM_LAB_DEVICE) when given, else the best available."""
    choice = preferred or os.environ.get("EBM_LAB_DEVICE") or "auto"
    if choice != "auto":
        kind = choice.split(":")[0]
        if kind not in _VALID:
            raise ValueError(f"unknown device {choice!r}; use one of {_VALID} or 'auto'")
        if kind == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was requested but no CUDA GPU is available")
        if kind == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device 'mps' was requested but MPS is not available")
        try:
            return torch.device(choice)
        except RuntimeError as err:  # malformed, e.g. 'cpu:abc': same error type as other bad names
            raise ValueError(f"invalid device string {choice!r}") from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return torch.Generator(device=torch.device(device)).manual_seed(seed)


def describe_device(device: torch.device) -> str:
    """A short human label for a device, e.g. 'cpu (2 threads)' or 'cuda: NVIDIA H200'."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


@contextmanager
def threads_for_product(multiply_adds: int, device: torch.device) -> Iterator[None]:
    """Run the block with one intra-op CPU thread when its largest product is small (see
    ``SMALL_PRODUCT``); otherwise, or off the CPU, leave the thread count alone."""
    before = torch.get_num_threads()
    if device.type != "cpu" or multiply_adds > SMALL_PRODUCT or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
