"""One browser session's link to the engine: a runner, its snapshot drain and its lifetime.

The drain runs as a Panel periodic callback: it never blocks (the runner polls with a zero
timeout), dispatches the newest snapshot of each job to the page that owns it, and notices a
dead engine process, which it reports and restarts.
"""
from __future__ import annotations

import time
from typing import Callable, Protocol

from ebm_engine.runtime import InlineRunner, ProcessRunner


class SnapshotSink(Protocol):
    def apply_snapshot(self, snapshot: dict) -> None: ...
    def engine_event(self, message: str) -> None: ...


class LabSession:
    """Owns the runner of one browser session and routes snapshots to pages by job id."""

    #: seconds a session may have no browser connection before its engine is stopped
    DISCONNECT_GRACE_S = 0.5

    def __init__(self, runner: ProcessRunner | InlineRunner | None = None, inline: bool = False,
                 connections: Callable[[], int] | None = None):
        self.runner = runner or (InlineRunner() if inline else ProcessRunner(lazy=True))
        self.connections = connections
        self.was_connected = False
        self.disconnected_since: float | None = None
        self.sinks: dict[str, SnapshotSink] = {}
        self.listeners: list[Callable[[str, dict], None]] = []
        self.engine_message: str | None = None
        self.closed = False

    def attach(self, job_id: str, kind: str, sink: SnapshotSink, config: dict | None = None,
               knobs: dict | None = None) -> None:
        """Open a job in the engine and send its snapshots to ``sink``."""
        self.sinks[job_id] = sink
        self.runner.open(job_id, kind, config, knobs)

    def command(self, job_id: str, op: str, payload=None) -> None:
        if not self.closed:
            self.runner.command(job_id, op, payload)

    def act(self, job_id: str, name: str, **arguments) -> None:
        if not self.closed:
            self.runner.act(job_id, name, **arguments)

    def set_knobs(self, job_id: str, **knobs) -> None:
        if not self.closed:
            self.runner.set_knobs(job_id, **knobs)

    def drain(self) -> None:
        """Periodic callback: apply the newest snapshot of each job; restart a crashed engine."""
        if self.closed or self._tab_closed():
            return
        if getattr(self.runner, "crashed", False):
            code = self.runner.exit_code
            self.engine_message = (f"The engine process stopped unexpectedly (exit code {code}); "
                                   "it was restarted and its jobs re-opened from their settings.")
            for sink in self.sinks.values():
                sink.engine_event(self.engine_message)
            self.runner.restart()
            return
        for job_id, snapshot in self.runner.poll().items():
            sink = self.sinks.get(job_id)
            if sink is not None:
                sink.apply_snapshot(snapshot)
            for listener in self.listeners:
                listener(job_id, snapshot)

    def _tab_closed(self) -> bool:
        """Stop the engine as soon as the browser tab has gone (the server ends the session later)."""
        if self.connections is None:
            return False
        if self.connections() > 0:
            self.was_connected, self.disconnected_since = True, None
            return False
        if not self.was_connected:
            return False
        now = time.monotonic()
        self.disconnected_since = self.disconnected_since or now
        if now - self.disconnected_since >= self.DISCONNECT_GRACE_S:
            self.stop()
            return True
        return False

    def stop(self, *_args) -> None:
        """Stop the engine (called when the browser session ends)."""
        if not self.closed:
            self.closed = True
            self.runner.stop()
