"""The ``Job`` base: one small unit of work per ``step()``, plain data per ``snapshot()``.

Jobs are plain classes: testable with no thread and no process. The engine host calls
``step()`` while a job plays and ``snapshot()`` at a bounded rate; knob changes arrive through
``set_knobs`` between steps. A job reports trouble through ``warning`` (it recovered) and never
raises NaNs into the app.
"""
from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import torch

from ebm_engine.device import describe_device, select_device
from ebm_engine.runtime.knobs import KnobSpec, Knobs


class Job:
    """Base class of background jobs; subclasses define ``KNOBS``, ``CONFIG`` and the three hooks."""

    KIND: ClassVar[str] = "job"
    KNOBS: ClassVar[list[KnobSpec]] = []
    CONFIG: ClassVar[dict[str, Any]] = {}   # defaults of settings that need a reset

    def __init__(self, config: dict[str, Any] | None = None, knobs: dict[str, Any] | None = None,
                 device: str | None = None, peers=None):
        unknown = sorted(set(config or {}) - set(self.CONFIG))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown} for {self.KIND}; known: {sorted(self.CONFIG)}")
        self.config = {**self.CONFIG, **self.checked_settings(config or {})}
        self.knobs = Knobs.from_specs(self.KNOBS, **(knobs or {}))
        self.device = select_device(device)
        self.peers = peers or (lambda: {})   # other jobs of the same engine, by id
        self.warning: str | None = None
        self.warning_step = 0
        self.step_count = 0
        self.build()

    # --- hooks for subclasses -------------------------------------------------------------
    def build(self) -> None:
        """(Re)create models, data and optimisers from ``self.config``."""
        raise NotImplementedError

    def advance(self) -> None:
        """One unit of work (one training iteration or a few sampler steps)."""
        raise NotImplementedError

    def step_interval(self) -> float:
        """Seconds the host waits between two steps while playing (0: as fast as possible)."""
        return 0.0

    def payload(self) -> dict[str, Any]:
        """The page-specific part of a snapshot: numpy arrays and numbers only."""
        raise NotImplementedError

    def on_knobs(self, changed: dict[str, Any]) -> None:
        """React to knob changes (default: nothing; the job reads knobs at every step)."""

    def animate(self) -> bool:
        """Advance a running animation one frame (the host calls it also while paused); False when none runs."""
        return False

    ACTIONS: ClassVar[tuple[str, ...]] = ()

    def act(self, name: str, **arguments: Any) -> None:
        """Run a named one-off action (e.g. spawn chains, auto-tune); unknown names raise."""
        if name not in self.ACTIONS:
            raise ValueError(f"unknown action {name!r} for {self.KIND}; known: {list(self.ACTIONS)}")
        getattr(self, f"action_{name}")(**arguments)

    # --- the interface the host uses ------------------------------------------------------
    def step(self) -> None:
        self.advance()
        self.step_count += 1

    def set_knobs(self, **changes: Any) -> dict[str, Any]:
        applied = self.knobs.update(**changes)
        self.on_knobs(applied)
        return applied

    def reset(self, config: dict[str, Any] | None = None) -> None:
        """Start over, optionally with new settings (validated before anything changes)."""
        unknown = sorted(set(config or {}) - set(self.CONFIG))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown} for {self.KIND}")
        checked = self.checked_settings(config or {})
        previous = dict(self.config)
        self.config.update(checked)
        try:
            self.step_count = 0
            self.warning = None
            self.build()
        except Exception:
            self.config = previous
            self.build()
            raise

    def checked_settings(self, config: dict[str, Any]) -> dict[str, Any]:
        """Settings of the same type as their defaults (numbers finite); anything else is a clear ``ValueError``."""
        out = {}
        for name, value in config.items():
            default = self.CONFIG.get(name)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"setting {name} must be true or false, got {value!r}")
            elif isinstance(default, int):
                if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                    value = int(value)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"setting {name} must be a whole number, got {value!r}")
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"setting {name} must be a finite number, got {value!r}")
                value = float(value)
            elif isinstance(default, str) and not isinstance(value, str):
                raise ValueError(f"setting {name} must be text, got {value!r}")
            out[name] = value
        return out

    def close(self) -> None:
        """Release what the job holds (worker threads, files) when it is closed."""

    def recover(self) -> str:
        """Return to a usable state after a failed step; says what was done. Default: rebuild."""
        self.reset()
        return "the job was reset"

    def warn(self, message: str) -> None:
        self.warning = message
        self.warning_step = self.step_count

    def snapshot(self) -> dict[str, Any]:
        return {"kind": self.KIND, "step": self.step_count, "warning": self.warning,
                "warning_step": self.warning_step, "device": describe_device(self.device),
                "knobs": self.knobs.as_dict(), "config": dict(self.config), "time": time.time(),
                **self.payload()}


def to_numpy(t: torch.Tensor):
    """Detach a tensor to a float32 numpy array on the CPU."""
    return t.detach().to("cpu", torch.float32).numpy()
