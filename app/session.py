"""One browser session's link to the engine: a runner, its snapshot drain and its lifetime.

The drain runs as a Panel periodic callback: it never blocks (the runner polls with a zero
timeout), dispatches the newest snapshot of each job to the page that owns it, and notices a
dead engine process, which it reports and restarts.
"""
from __future__ import annotations

from typing import Callable, Protocol

from ebm_engine.runtime import InlineRunner, ProcessRunner


class SnapshotSink(Protocol):
    def apply_snapshot(self, snapshot: dict) -> None: ...
    def engine_event(self, message: str) -> None: ...


class LabSession:
    """Owns the runner of one browser session and routes snapshots to pages by job id."""

    def __init__(self, runner: ProcessRunner | InlineRunner | None = None, inline: bool = False):
        self.runner = runner or (InlineRunner() if inline else ProcessRunner(lazy=True))
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

    def set_knobs(self, job_id: str, **knobs) -> None:
        if not self.closed:
            self.runner.set_knobs(job_id, **knobs)

    def drain(self) -> None:
        """Periodic callback: apply the newest snapshot of each job; restart a crashed engine."""
        if self.closed:
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

    def stop(self, *_args) -> None:
        """Stop the engine (called when the browser session ends)."""
        if not self.closed:
            self.closed = True
            self.runner.stop()
