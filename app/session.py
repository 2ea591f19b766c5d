"""One browser session's link to the engine: a runner, its snapshot drain and its lifetime.

Its rules are those of ARCHITECTURE.md ("Session"): playing goes through the device gate
(``app.device_gate``); the page in view always runs; after a knob change, a snapshot the engine made
before it read the change is held back for at most ``STALE_HOLD_S`` (the browser would spend a frame
drawing what the knob no longer shows); a dead engine is reported on every page and restarted.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Protocol

from app.device_gate import SERVER_GATE, DeviceGate, resolve_device
from ebm_engine.runtime import InlineRunner, ProcessRunner

#: commands after which the engine no longer plays a job: its slot (or queue place) is given back
STOPPING_OPS = ("pause", "step", "reset", "close")
#: longest a snapshot older than the latest knob change waits for the engine's answer to it
STALE_HOLD_S = 0.3


class SnapshotSink(Protocol):
    def apply_snapshot(self, snapshot: dict) -> None: ...
    def engine_event(self, message: str) -> None: ...


class Pacer(Protocol):
    def ready(self) -> bool: ...
    def sent(self) -> None: ...


class LabSession:
    """Owns the runner of one browser session and routes snapshots to pages by job id."""

    #: seconds a session may have no browser connection before its engine is stopped
    DISCONNECT_GRACE_S = 0.25

    def __init__(self, runner: ProcessRunner | InlineRunner | None = None, inline: bool = False,
                 connections: Callable[[], int] | None = None, gate: DeviceGate | None = None,
                 pacer: Pacer | None = None):
        self.runner = runner or (InlineRunner() if inline else ProcessRunner(lazy=True))
        # engine processes share the server's gate; in-process runners (tests, notebooks) only use one given
        self.gate = gate if gate is not None else (SERVER_GATE if isinstance(self.runner, ProcessRunner) else None)
        self.device: str | None = None
        self.holding: dict[str, float] = {}    # job id -> wall time its slot was granted
        self.queued: dict[str, int] = {}       # job id -> jobs ahead of it in the device queue
        self.playing: set[str] = set()         # jobs whose Play is pressed (holding, queued or suspended)
        self.suspended: set[str] = set()       # playing jobs paused while their page is out of view
        self.in_view: frozenset[str] = frozenset()   # the jobs of the page on screen
        self.pinned: set[str] = set()          # jobs that keep training while their page is hidden
        self.connections = connections
        self.was_connected = False
        self.disconnected_since: float | None = None
        self.sinks: dict[str, SnapshotSink] = {}
        self.listeners: list[Callable[[str, dict], None]] = []
        self.pacer = pacer
        self.pending: dict[str, dict] = {}     # job id -> newest snapshot not yet shown
        self.knobs_sent_at: dict[str, float] = {}   # job id -> when its latest knob change was sent
        self.closed = False

    def attach(self, job_id: str, kind: str, sink: SnapshotSink, config: dict | None = None,
               knobs: dict | None = None) -> None:
        """Open a job in the engine and send its snapshots to ``sink``."""
        self.sinks[job_id] = sink
        self.runner.open(job_id, kind, config, knobs)

    def command(self, job_id: str, op: str, payload=None) -> None:
        if self.closed:
            return
        if op == "play":
            self.playing.add(job_id)
            self.suspended.discard(job_id)
            self._suspend_hidden(but=job_id)
            if self.gate is not None:
                self._request_play(job_id)
                return
        if op in STOPPING_OPS:
            self.playing.discard(job_id)
            self.suspended.discard(job_id)
            if self.gate is not None:
                self._give_back(job_id)
        self.runner.command(job_id, op, payload)

    # --- the page in view -----------------------------------------------------------------------
    def show(self, job_ids) -> None:
        """The page of ``job_ids`` came into view: its jobs come first, and those that were suspended
        while it was hidden play again."""
        self.in_view = frozenset(job_ids)
        if self.gate is not None and not self.closed:
            self.gate.set_foreground(self, self.in_view)
        for job_id in sorted(self.suspended & self.in_view):
            self.command(job_id, "play")

    def pin(self, job_id: str, pinned: bool) -> None:
        """Let ``job_id`` keep training while its page is hidden (or not)."""
        self.pinned = self.pinned | {job_id} if pinned else self.pinned - {job_id}

    def _suspend_hidden(self, but: str) -> None:
        """Pause the playing jobs of hidden, unpinned pages; they resume when shown again. Without a shell
        that says which page is in view (a notebook shows several at once), nothing is suspended."""
        if not self.in_view:
            return
        for job_id in sorted(self.playing - self.suspended - self.pinned - self.in_view - {but}):
            self.suspended.add(job_id)
            if self.gate is not None:
                self._give_back(job_id)
            self.runner.command(job_id, "pause")

    def act(self, job_id: str, name: str, **arguments) -> None:
        if not self.closed:
            self.runner.act(job_id, name, **arguments)

    def set_knobs(self, job_id: str, **knobs) -> None:
        if not self.closed:
            self.runner.set_knobs(job_id, **knobs)
            self.knobs_sent_at[job_id] = time.monotonic()

    def made_before_latest_knobs(self, job_id: str, snapshot: dict) -> bool:
        """The engine made ``snapshot`` before reading the job's latest knob change, which was sent less
        than ``STALE_HOLD_S`` ago."""
        read = snapshot.get("status", {}).get("knob_changes")
        sent = getattr(self.runner, "knob_changes_sent", {}).get(job_id)
        if read is None or sent is None or read >= sent:
            return False
        return time.monotonic() - self.knobs_sent_at.get(job_id, 0.0) < STALE_HOLD_S

    def snapshot_signal(self) -> tuple[int, int] | None:
        """``(generation, fd)`` readable while a snapshot waits (engine processes only), else None."""
        return None if self.closed else getattr(self.runner, "snapshot_signal", None)

    def drain(self) -> None:
        """Periodic callback: apply the newest snapshot of each job (when the pacer lets a frame go);
        restart a crashed engine. Listeners (recorders) see every snapshot polled."""
        if self.closed or self._tab_closed():
            return
        if self.connections is not None and not self.was_connected:
            return    # no browser yet (a link preview, a health check): start no engine for it
        if getattr(self.runner, "crashed", False):
            message = (f"The engine process stopped unexpectedly (exit code {self.runner.exit_code}); "
                       "it was restarted and its jobs re-opened from their settings.")
            for sink in self.sinks.values():
                sink.engine_event(message)
            self._give_back_all()
            self.runner.restart()
            return
        if self.gate is not None:
            self._follow_gate()
        for job_id, snapshot in self.runner.poll().items():
            if self.gate is not None:
                snapshot = self._gated_snapshot(job_id, snapshot)
            elif snapshot.get("status", {}).get("state") == "error":
                self.playing.discard(job_id)    # a failed job waits for a new Play
            self.pending[job_id] = snapshot
            for listener in self.listeners:
                listener(job_id, snapshot)
        if not self.pending or (self.pacer is not None and not self.pacer.ready()):
            return
        shown = {job_id: snapshot for job_id, snapshot in self.pending.items()
                 if not self.made_before_latest_knobs(job_id, snapshot)}
        if not shown:
            return
        self.pending = {job_id: snapshot for job_id, snapshot in self.pending.items() if job_id not in shown}
        for job_id, snapshot in shown.items():
            sink = self.sinks.get(job_id)
            if sink is not None:
                sink.apply_snapshot(snapshot)
        if self.pacer is not None:
            self.pacer.sent()

    # --- the device gate ----------------------------------------------------------------------
    def _request_play(self, job_id: str) -> None:
        self.device = self.device or resolve_device(getattr(self.runner, "device", None))
        if self.gate.request(self, job_id, self.device, foreground=job_id in self.in_view or not self.in_view):
            self._start_playing(job_id)
        else:
            self.queued[job_id] = -1
            self._follow_gate()

    def _start_playing(self, job_id: str) -> None:
        self.queued.pop(job_id, None)
        self.holding[job_id] = time.time()
        self.runner.command(job_id, "play")

    def _give_back(self, job_id: str) -> None:
        was_queued = self.queued.pop(job_id, None) is not None
        self.holding.pop(job_id, None)
        self.gate.release(self, job_id)
        if was_queued:
            self._tell(job_id, "paused", None)

    def _give_back_all(self) -> None:
        if self.gate is not None:
            self.gate.release(self)
        self.holding.clear()
        self.queued.clear()
        self.playing.clear()
        self.suspended.clear()

    def _follow_gate(self) -> None:
        """Start jobs whose turn came, pause jobs whose time slice ended, show queue positions."""
        for job_id in [*self.holding, *self.queued]:
            position = self.gate.position(self, job_id)
            if position is None:
                self.holding.pop(job_id, None)
                self.queued.pop(job_id, None)
            elif position == 0 and job_id in self.queued:
                self._start_playing(job_id)
            elif position > 0 and self.queued.get(job_id) != position - 1:
                if self.holding.pop(job_id, None) is not None:
                    self.runner.command(job_id, "pause")       # its time slice is over: wait for a turn
                self.queued[job_id] = position - 1
                self._tell(job_id, "queued", position - 1)

    def _gated_snapshot(self, job_id: str, snapshot: dict) -> dict:
        """Show a waiting job as queued; give the slot back when the job stopped itself (an error)."""
        status = snapshot.get("status", {})
        if job_id in self.queued:
            snapshot["status"] = {**status, "state": "queued", "queued_ahead": self.queued[job_id],
                                  "steps_per_sec": 0.0}
        elif job_id in self.holding:
            sent_before_play = snapshot.get("time", float("inf")) < self.holding[job_id]
            if status.get("state") == "error" and not sent_before_play:
                self.holding.pop(job_id)
                self.playing.discard(job_id)
                self.gate.release(self, job_id)
            elif status.get("state") == "paused" and sent_before_play:   # older than the play command
                snapshot["status"] = {**status, "state": "playing"}
        return snapshot

    def _tell(self, job_id: str, state: str, ahead: int | None) -> None:
        """Send a status-only update to the job's page (the engine sends nothing while a job waits)."""
        sink = self.sinks.get(job_id)
        if sink is not None:
            sink.apply_snapshot({"status": {"state": state, "queued_ahead": ahead, "steps_per_sec": 0.0}})

    def _tab_closed(self) -> bool:
        """Stop the engine as soon as the browser tab has gone (the server ends the session later)."""
        if self.connections is None:
            return False
        if self.connections() > 0:
            self.was_connected, self.disconnected_since = True, None
        elif self.was_connected:
            now = time.monotonic()
            self.disconnected_since = self.disconnected_since or now
            if now - self.disconnected_since >= self.DISCONNECT_GRACE_S:
                self.stop()
        return self.closed

    def stop(self, *_args) -> None:
        """Stop the engine (called when the browser session ends)."""
        if not self.closed:
            self.closed = True
            self._give_back_all()
            if isinstance(self.runner, ProcessRunner):   # never block the server's event loop on a busy engine
                threading.Thread(target=self.runner.stop, name="ebm-lab-engine-stop", daemon=True).start()
            else:
                self.runner.stop()
