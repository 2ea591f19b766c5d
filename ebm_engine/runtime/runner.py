"""Runners: how the app drives jobs. ``ProcessRunner`` hosts them in an engine process of its own;
``InlineRunner`` hosts them in the caller's process (notebooks, tests).

Both offer the same calls: ``open``, ``command``, ``set_knobs``, ``poll`` (non-blocking, latest
snapshot per job wins), ``alive``, ``restart`` and ``stop``. ``knob_changes_sent`` counts the knob
commands each job's engine has been sent; a snapshot's ``status["knob_changes"]`` counts those it had
read when it was made, so a snapshot made before the latest knob change can be told apart.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import time
from contextlib import contextmanager, suppress
from typing import Any

from ebm_engine.runtime.host import EngineHost


class _RunnerBase:
    """Remembers what was opened, so a restarted engine can re-open the same jobs."""

    def __init__(self) -> None:
        self.opened: dict[str, tuple[str, dict, dict]] = {}
        self.latest: dict[str, dict] = {}
        self.knob_changes_sent: dict[str, int] = {}

    def open(self, job_id: str, kind: str, config: dict | None = None, knobs: dict | None = None) -> None:
        self.opened[job_id] = (kind, dict(config or {}), dict(knobs or {}))
        self.knob_changes_sent[job_id] = 0     # the engine's count starts again with the job
        self._send("open", job_id, self.opened[job_id])

    def command(self, job_id: str, op: str, payload: Any = None) -> None:
        """``op`` is one of play, pause, step, reset (payload: new settings) or close."""
        if op == "reset" and payload and job_id in self.opened:
            kind, config, knobs = self.opened[job_id]
            self.opened[job_id] = (kind, {**config, **payload}, knobs)
        if op == "close":
            self.opened.pop(job_id, None)
            self.knob_changes_sent.pop(job_id, None)
        self._send(op, job_id, payload)

    def act(self, job_id: str, name: str, **arguments: Any) -> None:
        """Run a one-off action of a job (spawn chains, auto-tune, ...)."""
        self._send("action", job_id, (name, arguments))

    def set_knobs(self, job_id: str, **knobs: Any) -> None:
        if job_id in self.opened:
            kind, config, old = self.opened[job_id]
            self.opened[job_id] = (kind, config, {**old, **knobs})
        if self._send("knobs", job_id, knobs):
            self.knob_changes_sent[job_id] = self.knob_changes_sent.get(job_id, 0) + 1

    def _send(self, op: str, job_id: str, payload: Any) -> bool:  # pragma: no cover - abstract
        """Deliver one command; False when it was not sent (it is replayed when the engine starts)."""
        raise NotImplementedError

    def _reopen_all(self) -> None:
        """Open every job opened so far in a fresh engine, with its settings and knobs."""
        for job_id, opened in self.opened.items():
            self._send("open", job_id, opened)
            self.knob_changes_sent[job_id] = 0   # the knobs travel with the open


class InlineRunner(_RunnerBase):
    """Runs jobs in this process: every ``poll()`` does one tick of work first."""

    def __init__(self, max_rate_hz: float = 1e9, device: str | None = None):
        super().__init__()
        self.host = EngineHost(max_rate_hz=max_rate_hz, device=device)

    def _send(self, op: str, job_id: str, payload: Any) -> bool:
        self.host.handle(op, job_id, payload)
        return True

    def poll(self) -> dict[str, dict]:
        self.host.tick()
        fresh = dict(self.host.drain())
        self.latest.update(fresh)
        return fresh

    @property
    def alive(self) -> bool:
        return True

    def restart(self) -> None:
        self.host = EngineHost(max_rate_hz=1.0 / self.host.min_interval, device=self.host.device)
        self._reopen_all()

    def stop(self) -> None:
        self.host.close_all()


def engine_main(commands, snapshots, max_rate_hz: float, device: str | None, threads: int) -> None:
    """Entry point of the engine process: apply commands, step jobs, push latest-wins snapshots."""
    import torch

    torch.set_num_threads(max(1, threads))
    lower_priority()
    host = EngineHost(max_rate_hz=max_rate_hz, device=device)
    host.commands_waiting = lambda: not commands.empty()   # one poll of the queue's pipe
    # A server killed outright (``kill -9``, a crash) runs no clean-up, and the command queue never reports
    # it: the engine reads the server's sentinel (``parent_process()``, the server also when the engine was
    # forked by the fork server) twice a second, so that it never lives on as an orphan.
    server, next_check, wait = mp.parent_process(), 0.0, 0.05
    while True:
        if server is not None and time.monotonic() >= next_check:
            next_check = time.monotonic() + 0.5
            if not server.is_alive():
                host.close_all()
                return
        while True:   # block until a command comes or work is due (never when a job is due now), then take them all
            try:
                op, job_id, payload = commands.get(timeout=wait) if wait > 0 else commands.get_nowait()
            except queue.Empty:
                break
            if op == "shutdown":
                host.close_all()
                return
            host.handle(op, job_id, payload)
            wait = 0
        wait = host.tick()
        for job_id, snap in host.drain():
            for lost in put_latest(snapshots, (job_id, snap)):
                host.resend(lost)


def lower_priority() -> None:
    """Run the engine at a lower CPU priority than the web server (niceness ``EBM_LAB_ENGINE_NICE``,
    default 5), so a busy engine never makes sliders and plots lag; 0 keeps the same priority."""
    with suppress(ValueError, OSError):
        step = int(os.environ.get("EBM_LAB_ENGINE_NICE", "5"))
        if step > 0 and hasattr(os, "nice"):
            os.nice(step)


def put_latest(q, item) -> list[str]:
    """Put ``(job_id, snapshot)``; when the queue is full, drop the oldest entries first (latest wins).
    Returns the job ids of the dropped snapshots: their jobs must send a fresh one, since a dropped
    snapshot may have been a job's only one (a page opened while another plays would wait forever)."""
    dropped = []
    for _ in range(4):
        try:
            q.put_nowait(item)
            break
        except queue.Full:
            try:
                dropped.append(q.get_nowait()[0])
            except queue.Empty:
                pass
    return dropped


def engine_context():
    """How engine processes start: forked from a fork server that has preloaded torch and the jobs
    (a fresh engine answers in well under a second instead of several), or spawned where there is
    no fork server (Windows, macOS without it). ``EBM_LAB_START_METHOD=spawn`` forces spawning."""
    method = os.environ.get("EBM_LAB_START_METHOD", "forkserver")
    if method not in mp.get_all_start_methods():
        method = "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["ebm_engine.runtime.engine_preload"])
    return ctx


def start_engine_server() -> None:
    """Start the fork server now (it preloads torch and the jobs) rather than at the first engine's
    start; nothing to do where engines are spawned. Like an engine, it must not re-run a main script."""
    if engine_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver
        with _without_main_script():
            forkserver.ensure_running()


@contextmanager
def _without_main_script():
    """Start children without re-running the parent's main script (``panel serve``'s launcher).

    multiprocessing re-runs a main *script* (not a ``-m`` module) in every child it starts; under
    ``panel serve`` that imports Panel and Bokeh into each engine, seconds of work the engine never
    uses. The engine's entry point lives in this module, so the child does not need the script.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) if getattr(main, "__spec__", None) is None else None
    if path is not None:
        del main.__file__
    try:
        yield
    finally:
        if path is not None:
            main.__file__ = path


def default_engine_threads() -> int:
    """Leave one core to the server: the engine's tensor math gets the rest."""
    return max(1, (os.cpu_count() or 2) - 1)


class ProcessRunner(_RunnerBase):
    """Hosts jobs in an engine process of its own (see ``engine_context``); the GPU context lives there only."""

    def __init__(self, max_rate_hz: float = 15.0, device: str | None = None, threads: int | None = None,
                 queue_size: int = 8, lazy: bool = False):
        super().__init__()
        self.max_rate_hz = max_rate_hz
        self.device = device
        self.threads = threads or default_engine_threads()
        self.queue_size = queue_size
        self.stopped = False
        self.restarts = 0
        self.process = None
        if not lazy:
            self._start()

    def _start(self) -> None:
        """Start the engine process and (re-)open every job opened so far."""
        ctx = engine_context()
        self._commands = ctx.Queue()
        self._snapshots = ctx.Queue(maxsize=self.queue_size)
        self.process = ctx.Process(target=engine_main, name="ebm-lab-engine", daemon=True,
                                   args=(self._commands, self._snapshots, self.max_rate_hz, self.device,
                                         self.threads))
        with _without_main_script():
            self.process.start()
        self.stopped = False
        self._reopen_all()

    def _send(self, op: str, job_id: str, payload: Any) -> bool:
        """Send a command; before a lazy start, ``open`` and knob changes are replayed at start."""
        if self.alive:
            self._commands.put((op, job_id, payload))
            return True
        return False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    @property
    def crashed(self) -> bool:
        """The engine process died without being asked to stop."""
        return self.process is not None and not self.stopped and not self.process.is_alive()

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.exitcode

    @property
    def snapshot_signal(self) -> tuple[int, int] | None:
        """``(generation, fd)``: a file descriptor that is readable while a snapshot waits to be
        polled, so that an event loop can poll as soon as one arrives; the generation changes when a
        restart replaces the queue. ``None`` before the engine has started."""
        if self.process is None or self.stopped:
            return None
        return self.restarts, self._snapshots._reader.fileno()

    def poll(self) -> dict[str, dict]:
        """Drain every waiting snapshot without blocking (starting a lazy engine); newest per job."""
        if self.process is None and not self.stopped:
            self._start()
        fresh: dict[str, dict] = {}
        while True:
            try:
                job_id, snap = self._snapshots.get_nowait()
            except (queue.Empty, EOFError, OSError):
                break
            fresh[job_id] = snap
        self.latest.update(fresh)
        return fresh

    def restart(self) -> None:
        """Stop what is left of the engine, start a fresh process and re-open every job."""
        self.stop()
        self.restarts += 1
        self._start()

    def stop(self, timeout: float = 0.3) -> None:
        """Ask the engine to shut down; terminate, then kill it if it does not within ``timeout``."""
        self.stopped = True
        if self.process is None:
            return
        if self.process.is_alive():
            with suppress(ValueError, OSError):
                self._commands.put(("shutdown", "", None))
            self.process.join(timeout)
        for end in (self.process.terminate, self.process.kill):
            if self.process.is_alive():
                end()
                self.process.join(0.2)
        for q in (self._commands, self._snapshots):
            q.cancel_join_thread()
            q.close()
