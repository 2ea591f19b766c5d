"""The shared-device gate: a server-wide limit on how many jobs play at once on each device.

A session asks for a slot before a job plays; when the device is full the job waits in a first-in-first-out
queue ("queued, n ahead") and starts by itself when a slot frees. While jobs wait, a job that has played
a whole time slice yields its slot and goes to the back of the queue. Within one session the page in
view comes first: its *foreground* tickets take the slots of the session's hidden (pinned) jobs and never
yield to them (ARCHITECTURE.md, "Device gate"); between sessions, first come is first served.

Limits: ``EBM_LAB_JOBS_PER_DEVICE`` (one number for every device, or ``cpu=2,cuda=4``), defaulting
to the core count (at least 2) on the CPU and 4 per GPU; ``EBM_LAB_TIME_SLICE_S`` sets the slice.
"""
from __future__ import annotations

import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable

DEFAULT_TIME_SLICE_S = 10.0
DEFAULT_GPU_JOBS = 4


def default_limit(device: str) -> int:
    """Concurrent jobs a device takes by default: one per CPU core (at least 2), or 4 per GPU."""
    if device.split(":")[0] == "cpu":
        return max(2, os.cpu_count() or 2)
    return DEFAULT_GPU_JOBS


def parse_limits(text: str | None) -> dict[str, int]:
    """Read ``"3"`` (every device) or ``"cpu=2,cuda=4,cuda:1=2"``; raises ``ValueError`` on nonsense."""
    limits: dict[str, int] = {}
    if not text or not text.strip():
        return limits
    for part in text.split(","):
        name, _, value = part.rpartition("=")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"EBM_LAB_JOBS_PER_DEVICE: {part.strip()!r} is not a whole number of jobs") from None
        if number < 1:
            raise ValueError(f"EBM_LAB_JOBS_PER_DEVICE: at least one job per device, got {number}")
        limits[name.strip() or "*"] = number
    return limits


def resolve_device(preferred: str | None = None) -> str:
    """The device an engine will use, as a gate key ('cpu', 'cuda:0', 'mps'), without computing on it."""
    choice = preferred or os.environ.get("EBM_LAB_DEVICE") or "auto"
    if choice == "auto":
        import torch

        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    return "cuda:0" if choice == "cuda" else choice


@dataclass
class Ticket:
    """One job's claim on a device: holding a slot (``since`` set) or waiting in the queue."""

    owner: Callable[[], object]            # weak reference to the session; a dead owner frees the ticket
    job_id: str
    device: str
    since: float | None = None             # when the slot was granted; None while queued
    foreground: bool = True                # the job's page is in view in its session


@dataclass
class DeviceQueue:
    limit: int
    holders: list[Ticket] = field(default_factory=list)
    waiting: list[Ticket] = field(default_factory=list)


class DeviceGate:
    """Slots per device, a FIFO queue of waiting jobs and time slicing; safe to call from any thread."""

    def __init__(self, limits: dict[str, int] | None = None, time_slice_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        env_limits = parse_limits(os.environ.get("EBM_LAB_JOBS_PER_DEVICE"))
        self.limits = {**env_limits, **(limits or {})}
        slice_env = os.environ.get("EBM_LAB_TIME_SLICE_S")
        self.time_slice_s = float(time_slice_s if time_slice_s is not None else slice_env or DEFAULT_TIME_SLICE_S)
        if not self.time_slice_s > 0:   # also refuses NaN
            raise ValueError(f"the time slice must be a positive number of seconds, got {self.time_slice_s}")
        self.clock = clock
        self.devices: dict[str, DeviceQueue] = {}
        self.lock = threading.RLock()

    def limit(self, device: str) -> int:
        for key in (device, device.split(":")[0], "*"):
            if key in self.limits:
                return self.limits[key]
        return default_limit(device)

    def _queue(self, device: str) -> DeviceQueue:
        return self.devices.setdefault(device, DeviceQueue(self.limit(device)))

    def _tickets(self, owner: object):
        return (t for q in self.devices.values() for t in (*q.holders, *q.waiting) if t.owner() is owner)

    def _find(self, owner: object, job_id: str) -> Ticket | None:
        return next((t for t in self._tickets(owner) if t.job_id == job_id), None)

    # --- what sessions call ----------------------------------------------------------------------
    def request(self, owner: object, job_id: str, device: str, foreground: bool = True) -> bool:
        """Ask to play ``job_id``: True when it holds a slot now, False when it waits in the queue."""
        with self.lock:
            ticket = self._find(owner, job_id)
            if ticket is None:
                ticket = Ticket(weakref.ref(owner), job_id, device, foreground=foreground)
                self._queue(device).waiting.append(ticket)
            ticket.foreground = foreground
            self._rebalance()
            return ticket.since is not None

    def set_foreground(self, owner: object, job_ids: set[str] | frozenset[str]) -> None:
        """The jobs of ``owner`` whose page is in view now; its other tickets become background ones."""
        with self.lock:
            for ticket in self._tickets(owner):
                ticket.foreground = ticket.job_id in job_ids
            self._rebalance()

    def release(self, owner: object, job_id: str | None = None) -> None:
        """Give back the slot or queue place of one job (``job_id``) or of every job of ``owner``."""
        with self.lock:
            self._drop(lambda t: t.owner() is owner and (job_id is None or t.job_id == job_id))
            self._rebalance()

    def position(self, owner: object, job_id: str) -> int | None:
        """0 when the job holds a slot, n when n jobs wait ahead of it plus one, None when it has no ticket.

        Also moves the queue along (grants freed slots, rotates expired time slices).
        """
        with self.lock:
            self._rebalance()
            ticket = self._find(owner, job_id)
            if ticket is None:
                return None
            if ticket.since is not None:
                return 0
            return self._queue(ticket.device).waiting.index(ticket) + 1

    def counts(self, device: str) -> tuple[int, int]:
        """(jobs playing, jobs waiting) on ``device``."""
        with self.lock:
            self._rebalance()
            q = self._queue(device)
            return len(q.holders), len(q.waiting)

    # --- the queue's rules -------------------------------------------------------------------------
    def _rebalance(self) -> None:
        now = self.clock()
        self._drop(lambda t: (o := t.owner()) is None or getattr(o, "closed", False))
        for q in self.devices.values():
            self._preempt_for_foreground(q, now)
            while q.waiting and len(q.holders) < q.limit:
                self._grant(q, self._next_waiting(q, q.waiting), now)
            # time slicing: while jobs wait, the longest-playing holder past its slice yields
            for holder in sorted((t for t in q.holders if now - t.since >= self.time_slice_s), key=lambda t: t.since):
                takers = [t for t in q.waiting if self._may_take(t, holder)]
                if not takers:
                    continue
                q.holders.remove(holder)
                holder.since = None
                self._grant(q, self._next_waiting(q, takers), now)
                q.waiting.append(holder)

    def _drop(self, gone: Callable[[Ticket], bool]) -> None:
        for q in self.devices.values():
            q.holders = [t for t in q.holders if not gone(t)]
            q.waiting = [t for t in q.waiting if not gone(t)]

    @staticmethod
    def _may_take(waiting: Ticket, holder: Ticket) -> bool:
        """A page in view never yields its slot to a hidden page of its own session."""
        return not (waiting.owner() is holder.owner() and holder.foreground and not waiting.foreground)

    @staticmethod
    def _next_waiting(q: DeviceQueue, candidates: list[Ticket]) -> Ticket:
        """The first candidate in queue order; a session's page in view goes before its hidden pages."""
        first = candidates[0]
        if first.foreground:
            return first
        return next((t for t in q.waiting if t.foreground and t.owner() is first.owner()), first)

    def _preempt_for_foreground(self, q: DeviceQueue, now: float) -> None:
        """A waiting job in view takes the slot of a background job of its own session; that one waits
        at the head of the queue for the next free slot."""
        for ticket in [t for t in q.waiting if t.foreground]:
            if len(q.holders) < q.limit:
                return
            hidden = next((h for h in q.holders if h.owner() is ticket.owner() and not h.foreground), None)
            if hidden is not None:
                q.holders.remove(hidden)
                hidden.since = None
                q.waiting.insert(0, hidden)
                self._grant(q, ticket, now)

    @staticmethod
    def _grant(q: DeviceQueue, ticket: Ticket, now: float) -> None:
        q.waiting.remove(ticket)
        ticket.since = now
        q.holders.append(ticket)

#: The gate shared by every browser session of this server process.
SERVER_GATE = DeviceGate()
