"""The ``Job`` base: one small unit of work per ``step()``, plain data per ``snapshot()``.

The engine host calls ``step()`` while a job plays and ``snapshot()`` at a bounded rate; knob changes
arrive through ``set_knobs`` between steps. A job reports trouble it recovered from as its ``warning``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any, ClassVar

import torch

from ebm_engine import checkpoint_store
from ebm_engine.checkpoints import (CheckpointError, load_checkpoint, load_weights, make_header, read_header,
                                   save_checkpoint)
from ebm_engine.device import describe_device, select_device
from ebm_engine.runtime import controls, live
from ebm_engine.runtime.controls import Controls, Knobs
from ebm_engine.runtime.parts import Parts
from ebm_engine.runtime.training_state import load_trainer_state, trainer_state

CHECKPOINT_ACTIONS = ("save_checkpoint", "load_checkpoint", "load_pretrained", "list_checkpoints", "start_from_scratch")


class Job:
    """Base class of background jobs; subclasses declare ``CONTROLS`` and define the three hooks."""

    KIND: ClassVar[str] = "job"
    CONTROLS: ClassVar[type[Controls]] = Controls   # the job's settings and knobs, declared once
    CONFIG: ClassVar[dict[str, Any]] = {}            # the settings' defaults (derived from ``CONTROLS``)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.CONFIG = controls.defaults(cls.CONTROLS, controls.setting_names(cls.CONTROLS))

    def __init__(self, config: dict[str, Any] | None = None, knobs: dict[str, Any] | None = None,
                 device: str | None = None, peers=None):
        self.config = {**self.CONFIG, **self.checked_settings(config or {})}
        self.knobs = Knobs(self.CONTROLS, **(knobs or {}))
        self.device = select_device(device)
        self.peers = peers or (lambda: {})   # other jobs of the same engine, by id
        self.knobs_moving = False    # set by the host while a knob was changed moments ago (see ``wait_for_knobs``)
        self.waited_for_knobs = False
        self.command_waiting: Callable[[], bool] | None = None   # set by the engine host (see ``readout``)
        self.warning: str | None = None
        self.warning_step = 0
        self.step_count = 0
        self.checkpoint_status: dict[str, Any] = {"message": "", "ok": True, "loads": 0}
        self._checkpoint_listing: list | None = None
        self.restored_training_state: list[str] = []   # what the last loaded checkpoint restored besides weights
        self.first_play_due = True      # nothing has run or been loaded yet (see ``before_play``)
        self.started_from: str | None = None   # the pretrained model the first Play continued from
        self._build()

    def _build(self) -> None:
        self.parts = Parts()   # keys such as ``weights_version`` only hold within one set of models
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
        """The page-specific part of a snapshot: numpy arrays and numbers only. Arrays a page draws are
        parts (``self.parts``, ``runtime.parts``): made when their key changes, sent when their version does."""
        raise NotImplementedError

    def on_knobs(self, changed: dict[str, Any]) -> None:
        """React to knob changes (default: nothing; the job reads knobs at every step)."""

    def on_pause(self) -> None:
        """The host paused the job (default: nothing). A job whose readouts follow training a part at a
        time may make them whole for the paused page, so it settles at once."""

    def animate(self) -> bool:
        """Advance a running animation one frame (the host calls it also while paused); False when none runs."""
        return False

    ACTIONS: ClassVar[tuple[str, ...]] = ()

    def act(self, name: str, **arguments: Any) -> None:
        """Run a named one-off action (e.g. spawn chains, auto-tune); unknown names raise."""
        if name not in self.ACTIONS and not (name in CHECKPOINT_ACTIONS and self.listed_models()):
            raise ValueError(f"unknown action {name!r} for {self.KIND}; known: {list(self.ACTIONS)}")
        getattr(self, f"action_{name}")(**arguments)

    # --- the interface the host uses ------------------------------------------------------
    def advance_slice(self, seconds: float) -> bool:
        """Part of an iteration, for about ``seconds``; True when an iteration completed. Jobs whose
        iterations are long override it to show work in progress; the default runs a whole one."""
        self.advance()
        return True

    def settle(self) -> None:
        """Finish an iteration left in progress by ``advance_slice`` (before a checkpoint is saved)."""

    def step(self, seconds: float | None = None) -> None:
        """One iteration; with ``seconds``, possibly only a slice of one (``step_count`` counts whole ones)."""
        self.first_play_due = False
        if seconds is None:
            self.advance()
        elif not self.advance_slice(seconds):
            return
        self.step_count += 1

    def wait_for_knobs(self) -> bool:
        """True while a knob is moving: slow parts of a snapshot that do not show the knob's effect
        (readouts such as log Z, NLL, diagnostics) wait, so that the knob's answer goes out at once;
        the host sends a snapshot with them once the knob has rested (``EngineHost.settle_s``)."""
        if self.knobs_moving:
            self.waited_for_knobs = True
        return self.knobs_moving

    def readout(self, steps: Generator) -> bool:
        """Run a slow readout, given as steps (``ebm_engine.stepwise``), that gives way to a command waiting
        for the engine (a slider moved while it ran): it is then dropped, and computed again by a later
        snapshot. True when it completed."""
        if live.run_unless(steps, self.command_waiting):
            return True
        self.waited_for_knobs = True   # the host sends the readouts once the knob rests
        return False

    def run_for(self, steps: Generator, seconds: float | None) -> bool:
        """Take ``steps`` for about ``seconds`` (None: all of them), ending early when a command waits;
        True when they all ran (``runtime.live.run_for``)."""
        return live.run_for(steps, seconds, self.command_waiting)

    def set_knobs(self, **changes: Any) -> dict[str, Any]:
        applied = self.knobs.update(**changes)
        self.on_knobs(applied)
        return applied

    def reset(self, config: dict[str, Any] | None = None) -> None:
        """Start over, optionally with new settings (validated before anything changes)."""
        checked = self.checked_settings(config or {})
        previous = dict(self.config)
        self.config.update(checked)
        if self.started_from is not None:   # the run that continued a pretrained model ends here
            self.started_from = None
            self._checkpoint_result(True, "Started from scratch: Play trains a new model from iteration 0.")
        try:
            self.step_count = 0
            self.warning = None
            self._build()
        except Exception:
            self.config = previous
            self._build()
            raise

    def checked_settings(self, config: dict[str, Any]) -> dict[str, Any]:
        """Settings validated by their declarations; anything else is a clear ``ValueError``."""
        return controls.checked(self.CONTROLS, config, self.CONFIG, what="setting")

    def close(self) -> None:
        """Release what the job holds (worker threads, files) when it is closed."""

    def recover(self) -> str:
        """Return to a usable state after a failed step; says what was done. Default: rebuild."""
        self.reset()
        return "the job was reset"

    def warn(self, message: str) -> None:
        self.warning = message
        self.warning_step = self.step_count

    def warn_if_diverged(self, stats, trainer, what: str = "Training",
                         remedy: str = "Lower the learning rate or the step size.") -> bool:
        """Say that a guarded trainer's step diverged and was rolled back (one wording on every page)."""
        if stats.diverged:
            self.warn(f"{what} diverged at iteration {stats.step} (non-finite loss or weights); weights restored "
                      f"from iteration {trainer.last_good_step}. {remedy}")
        return stats.diverged

    def snapshot(self) -> dict[str, Any]:
        self.parts.asked.clear()
        snap = {"kind": self.KIND, "step": self.step_count, "warning": self.warning,
                "warning_step": self.warning_step, "device": describe_device(self.device),
                "knobs": self.knobs.as_dict(), "config": dict(self.config), "time": time.time(),
                **self.payload()}
        snap["versions"] = self.parts.versions()
        if self.listed_models():
            snap["checkpoint"] = self.checkpoint_snapshot()
            snap["started_from"] = self.started_from
        return snap

    # --- checkpoints ----------------------------------------------------------------------
    CHECKPOINT_MODELS: ClassVar[tuple[str, ...]] = ()   # model names this job saves and loads (none: no model)
    # models that other job kinds of the same page train: their checkpoints are listed too, and the page
    # opens that kind to load one (``app.pages.base.LabPage.checkpoint_action``)
    SIBLING_MODELS: ClassVar[tuple[str, ...]] = ()
    MODEL_ARGS: ClassVar[tuple[str, ...]] = ()          # settings that are the model's constructor arguments
    DATA_KEY: ClassVar[str | None] = "dataset"          # the setting that names the data set
    DATA_NAME: ClassVar[str | None] = None              # the data set when no setting chooses it
    # what the first Play of a fresh job starts from: None (a new model) or "pretrained" (the shipped
    # checkpoint that fits the current settings, when there is one: trained samples at once)
    FIRST_PLAY: ClassVar[str | None] = None

    def model_name(self) -> str:
        """The catalog name of the model the job trains now."""
        return self.CHECKPOINT_MODELS[0]

    @classmethod
    def listed_models(cls) -> tuple[str, ...]:
        """The models whose checkpoints the page's checkpoint panel lists (none: the job has no panel)."""
        return cls.CHECKPOINT_MODELS + cls.SIBLING_MODELS

    def model_modules(self) -> dict[str, torch.nn.Module]:
        """The modules whose weights make the model, by a key prefix (e.g. ``{"model": self.model}``)."""
        return {}

    def checkpoint_metrics(self) -> dict[str, float]:
        """Figures already at hand to record in a saved checkpoint's header (no extra work)."""
        return {}

    def after_load(self) -> None:
        """Refresh views derived from the weights after a checkpoint was loaded."""

    def model_state(self, training: bool = True) -> dict[str, torch.Tensor]:
        """The weights of every model module, plus (``training``) what resuming training needs."""
        state = {f"{prefix}.{key}": value for prefix, module in self.model_modules().items()
                 for key, value in module.state_dict().items()}
        if training:
            for name, trainer in self.resumable_trainers().items():
                state.update(trainer_state(trainer, self._trainer_generator(name, trainer), name))
        return {key: value.detach().clone() for key, value in state.items()}   # a copy, never live tensors

    def resumable_trainers(self) -> dict[str, Any]:
        """The trainers whose state a checkpoint carries, by name (``""``: the job's one ``trainer``)."""
        trainer = getattr(self, "trainer", None)
        return {"": trainer} if trainer is not None or hasattr(self, "generator") else {}

    def _trainer_generator(self, name: str, trainer: Any) -> torch.Generator | None:
        """The random stream of a trainer: the job's ``generator`` for the main one, its own otherwise."""
        return getattr(self, "generator", None) if name == "" else getattr(trainer, "generator", None)

    def checkpoint_modules(self, header: dict[str, Any]) -> dict[str, torch.nn.Module]:
        """The modules a checkpoint's weights go into (default: every model module)."""
        return self.model_modules()

    def checkpoint_header(self, metrics: dict[str, float] | None = None, **extra: Any) -> dict[str, Any]:
        """A header describing the current model: name, constructor arguments, data, step, metrics."""
        cfg = self.config
        return make_header(self.model_name(), {k: cfg[k] for k in self.MODEL_ARGS},
                           cfg.get(self.DATA_KEY) if self.DATA_KEY else self.DATA_NAME, self.step_count,
                           {k: v for k, v in (self.checkpoint_metrics() if metrics is None else metrics).items()
                            if v is not None},
                           seed=cfg.get("seed"), job=self.KIND, config=dict(cfg),
                           knobs=self.knobs.as_dict(), **extra)

    def config_from_header(self, header: dict[str, Any]) -> dict[str, Any]:
        """The settings the checkpoint's model needs (constructor arguments, data set, ...)."""
        updates = {k: v for k, v in header.get("model_args", {}).items() if k in self.MODEL_ARGS}
        if self.DATA_KEY and header.get("data") is not None:
            updates[self.DATA_KEY] = header["data"]
        return updates

    def load_model_state(self, state: dict[str, torch.Tensor], header: dict[str, Any]) -> None:
        """Rebuild for the checkpoint's settings if they differ, then load its weights (and training state)."""
        if header.get("model") not in self.CHECKPOINT_MODELS:
            raise CheckpointError(f"this page trains {' or '.join(self.CHECKPOINT_MODELS) or 'no model of its own'}, "
                                  f"not a {header.get('model')!r} model")
        updates = self.config_from_header(header)
        if any(self.config.get(k) != v for k, v in updates.items()):
            self.reset(updates)
        for prefix, module in self.checkpoint_modules(header).items():
            load_weights(module, state, prefix)
        self.restored_training_state = []
        self.first_play_due, self.started_from = False, None
        self.step_count = int(header.get("step", 0))
        for name, trainer in self.resumable_trainers().items():
            restored = load_trainer_state(trainer, self._trainer_generator(name, trainer), state, name)
            self.restored_training_state += [f"{name} {part}" if name else part for part in restored]
            good = getattr(trainer, "last_good", None)
            if good is not None:
                good.capture(self.step_count if name == "" else trainer.step_count)
        self.warning = None
        self.after_load()

    def action_save_checkpoint(self, checkpoint: str = "") -> None:
        """Save the current model as ``checkpoint`` in the checkpoints folder; the result goes in the snapshot."""
        try:
            path = checkpoint_store.path_for_saving(checkpoint)
            self.settle()
            save_checkpoint(path, self.model_state(), self.checkpoint_header(saved_from="app"))
        except (CheckpointError, OSError) as exc:
            return self._checkpoint_result(False, f"Not saved: {exc}")
        self._checkpoint_listing = None
        self._checkpoint_result(True, f"Saved {path.stem} (step {self.step_count}).")

    def action_load_checkpoint(self, checkpoint: str = "") -> None:
        """Load a checkpoint by name (``pretrained:...`` for the shipped ones)."""
        try:
            state, header = load_checkpoint(checkpoint_store.resolve(checkpoint))
            self.load_model_state(state, header)
        except (CheckpointError, ValueError) as exc:
            return self._checkpoint_result(False, f"Not loaded: {exc}")
        self.checkpoint_status["loads"] += 1
        self._checkpoint_result(True, f"Loaded {checkpoint} ({header.get('model')} on {header.get('data')}, "
                                      f"step {header.get('step')}).")

    def action_load_pretrained(self) -> None:
        """Load the shipped checkpoint that fits the current model and data best."""
        ranked = [c for c in self._listing() if c.pretrained and c.model in self.CHECKPOINT_MODELS]
        if not ranked:
            return self._checkpoint_result(False, "No pretrained checkpoint is shipped for this page.")
        self.action_load_checkpoint(ranked[0].reference)

    def action_list_checkpoints(self) -> None:
        self._checkpoint_listing = None

    def action_start_from_scratch(self) -> None:
        """Start over with the current settings; the next Play trains a new model, never a pretrained one."""
        self.reset()
        self.first_play_due = False
        self._checkpoint_result(True, "Started from scratch: Play trains a new model from iteration 0.")

    def before_play(self) -> None:
        """Called by the host when Play is pressed. The first Play of a fresh job whose ``FIRST_PLAY`` is
        "pretrained" continues from the shipped checkpoint made with the job's current settings, if any."""
        due, self.first_play_due = self.first_play_due, False
        fitting = self.fitting_pretrained() if due and self.FIRST_PLAY == "pretrained" and self.step_count == 0 else None
        if fitting is None:
            return
        self.action_load_checkpoint(fitting.reference)
        if self.checkpoint_status["ok"]:
            name = fitting.reference.removeprefix(checkpoint_store.PRETRAINED)
            self.started_from = f"pretrained {name} (iteration {self.step_count})"
            self._checkpoint_result(True, f"Continuing from {self.started_from} — Start from scratch trains a "
                                          "new one.")

    def fitting_pretrained(self) -> checkpoint_store.StoredCheckpoint | None:
        """The shipped checkpoint whose model, data and constructor arguments are the current ones (loading
        it changes no setting), or None."""
        for candidate in self._listing():
            if not candidate.pretrained or candidate.model != self.model_name():
                continue
            try:
                header = read_header(checkpoint_store.resolve(candidate.reference))
            except CheckpointError:
                continue
            if all(self.config.get(k) == v for k, v in self.config_from_header(header).items()):
                return candidate
        return None

    def _listing(self) -> list:
        """The compatible checkpoints, those of the current model and data set first (then the user's
        before the shipped ones, as ``checkpoint_store`` lists them)."""
        if self._checkpoint_listing is None:
            self._checkpoint_listing = checkpoint_store.list_checkpoints(self.listed_models())
        data = self.config.get(self.DATA_KEY) if self.DATA_KEY else self.DATA_NAME
        return sorted(self._checkpoint_listing, key=lambda c: (c.model != self.model_name(), c.data != data))

    def _checkpoint_result(self, ok: bool, message: str) -> None:
        self.checkpoint_status.update(ok=ok, message=message)

    def checkpoint_snapshot(self) -> dict[str, Any]:
        listing = self._listing()
        return {**self.checkpoint_status, "model": self.model_name(),
                "options": [(c.label, c.reference) for c in listing],
                "option_models": {c.reference: c.model for c in listing},
                "has_pretrained": any(c.pretrained and c.model in self.CHECKPOINT_MODELS for c in listing),
                "started_from": self.started_from}


def weights_version(module: torch.nn.Module) -> tuple:
    """Changes whenever a parameter of ``module`` is written in place (an optimiser step, a loaded
    checkpoint) or replaced: a key for results computed from the weights."""
    return id(module), tuple((p.data_ptr(), p._version) for p in module.parameters())


def seeded(seed: int, make: Callable[[], Any]) -> Any:
    """``make()`` with torch's global generator seeded (reproducible layer initialisation); the global
    generator is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


def to_numpy(t: torch.Tensor):
    """Detach a tensor to a float32 numpy array on the CPU."""
    return t.detach().to("cpu", torch.float32).numpy()
