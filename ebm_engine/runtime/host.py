"""The engine host: owns jobs, applies commands, steps playing jobs, emits snapshots.

The same host runs inside the engine process (``runner.ProcessRunner``) and in-process
(``runner.InlineRunner``, for notebooks and tests). Every failure inside a job is caught here
and turned into a status the page can show; nothing is raised to the caller.
"""
from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Callable

from ebm_engine.runtime.registry import job_class

COMMANDS = ("open", "close", "play", "pause", "step", "reset", "knobs", "action")
# a knob at rest this long gets the readouts its answers left out (see ``Job.wait_for_knobs``); a knob
# tapped with the arrow keys moves every 0.3-0.5 s, and readouts begun in between (0.1-0.4 s of work
# on some pages) would hold the next tap's answer
KNOB_SETTLE_S = 0.6
# while a knob moves, training gets at most this share of the engine's time: the rest goes to the
# knob's answers and, on a machine with few cores, to the server and the browser that show them (a
# smaller share shortened the key-press-to-answer time of bench/app_latency.py on 2 cores, down to
# about this share, and changed nothing below it)
KNOB_TRAINING_SHARE = 0.3


@dataclass
class JobSlot:
    """A hosted job with its run state and rate bookkeeping."""

    job: Any
    state: str = "paused"           # 'playing' | 'paused' | 'error'
    error: str | None = None
    notice: str | None = None
    dirty: bool = True
    answer_now: bool = False         # a knob changed: the next snapshot goes out at once, before any step
    last_emit: float = 0.0
    frame_due: float = 0.0           # when a playing job's next frame is due, on a steady rhythm
    next_due: float = 0.0
    next_frame: float = 0.0          # when the job's animation (if any) may advance again
    iteration_start: float | None = None   # when the first slice of the iteration in progress ran
    knobs_rest_at: float | None = None      # when the last knob change counts as settled
    knob_changes: int = 0            # knob commands read so far (snapshots carry it: see ``LabSession``)
    snapshot_cost: float = 0.0       # seconds the job's last snapshot took to build
    step_cost: float = 0.0           # seconds the job's last step (or slice) took
    rate_steps: list = field(default_factory=list)

    def steps_per_sec(self) -> float:
        if len(self.rate_steps) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self.rate_steps[0], self.rate_steps[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0


def describe_exception(exc: BaseException) -> str:
    """One line for the page: the exception's type and message, no traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


class EngineHost:
    """Hosts jobs by id; ``handle`` applies one command, ``tick`` does one round of work."""

    def __init__(self, max_rate_hz: float = 15.0, device: str | None = None):
        self.slots: dict[str, JobSlot] = {}
        self.min_interval = 1.0 / max_rate_hz
        self.slice_s = self.min_interval   # a playing job with long iterations shows them in slices this long
        self.min_answer_interval = min(self.min_interval, 1.0 / 30)   # knob answers: up to 30 per second
        self.settle_s = KNOB_SETTLE_S
        self.knob_training_share = KNOB_TRAINING_SHARE
        self.device = device
        self.outbox: list[tuple[str, dict]] = []   # (job_id, snapshot) and status events
        # whether a command waits to be read (the engine process sets it): slow readouts give way to it
        self.commands_waiting: Callable[[], bool] | None = None

    def handle(self, op: str, job_id: str, payload: Any = None) -> None:
        """Apply one command; errors become the job's notice, never exceptions."""
        slot = self.slots.get(job_id)
        try:
            if op == "open":
                kind, config, knobs = payload
                job = job_class(kind)(config, knobs, device=self.device, peers=self.peer_jobs)
                if job_id in self.slots:
                    self.slots[job_id].job.close()
                job.command_waiting = self.commands_waiting
                self.slots[job_id] = JobSlot(job)
                return
            if op not in COMMANDS:
                raise ValueError(f"unknown command {op!r}")
            if slot is None:
                raise ValueError(f"no job {job_id!r} is open")
            slot.notice = None
            if op == "close":
                self.slots.pop(job_id).job.close()
            elif op == "play":
                if slot.state != "playing":
                    slot.job.before_play()   # the first Play of a fresh job may continue a pretrained model
                slot.state, slot.error = "playing", None
            elif op == "pause":
                slot.state = "paused"
                slot.job.on_pause()
            elif op == "step":
                slot.state = "paused"
                self._step(slot, whole=True)
            elif op == "reset":
                slot.job.reset(payload or None)
                slot.state, slot.error, slot.rate_steps, slot.iteration_start = "paused", None, [], None
            elif op == "knobs":
                slot.knob_changes += 1
                slot.job.knobs_moving = True   # already while the job takes the change (``Job.wait_for_knobs``)
                slot.knobs_rest_at = time.monotonic() + self.settle_s
                slot.job.set_knobs(**payload)
                slot.answer_now = True
            elif op == "action":
                name, arguments = payload
                slot.job.act(name, **(arguments or {}))
            slot.dirty = True
        except Exception as exc:  # reported to the page, never raised
            if op == "open" and slot is None:
                self.outbox.append((job_id, {"status": {"state": "error", "error": describe_exception(exc)}}))
            elif slot is not None:   # a job that could not be opened in its place stays, with a notice
                slot.notice = describe_exception(exc)
                slot.dirty = True

    def slice_for(self, slot: JobSlot, now: float) -> float:
        """How long the next slice of a long iteration may run: until the slot's next frame is due, less
        what its snapshot takes to build, so that frames keep the frame rate (a whole frame interval of
        work and then the snapshot made ~10 frames a second instead of 15). At least a quarter of the
        slice length, so that training always moves on; at most the slice length."""
        left = slot.frame_due - now - slot.snapshot_cost
        return min(self.slice_s, max(self.slice_s / 4, left))

    def _step(self, slot: JobSlot, whole: bool = False) -> None:
        started = time.monotonic()
        try:
            slot.job.step(None if whole else self.slice_for(slot, time.monotonic()))   # ends early for a command
        except Exception as exc:
            slot.state, slot.error = "error", describe_exception(exc)
            try:
                slot.error += f" — {slot.job.recover()}; press Play to continue"
            except Exception as recover_exc:
                slot.error += f" (recovery failed: {describe_exception(recover_exc)})"
        now = time.monotonic()
        slot.step_cost = now - started
        slot.rate_steps.append((now, slot.job.step_count))
        while len(slot.rate_steps) > 2 and now - slot.rate_steps[0][0] > 2.0:
            slot.rate_steps.pop(0)
        slot.dirty = True

    def resend(self, job_id: str) -> None:
        """Make a fresh snapshot of ``job_id`` with the next frame (its last one was lost on the way)."""
        slot = self.slots.get(job_id)
        if slot is not None:
            slot.dirty = True

    def peer_jobs(self) -> dict[str, Any]:
        """The jobs hosted here by id, so one job can read another's model (e.g. a trained energy)."""
        return {job_id: slot.job for job_id, slot in self.slots.items()}

    def tick(self) -> float:
        """Answer knob changes, step every playing job that is due, queue due snapshots; returns
        seconds until work is due. A tick that answered a knob change does nothing else: the answer
        leaves the engine before the next step (a slice of an image model's iteration takes ~70 ms)."""
        wait = 0.05
        answered = False
        for job_id, slot in self.slots.items():   # the page shows a knob's effect before the next step
            if slot.answer_now:
                since = time.monotonic() - slot.last_emit
                if since >= self.min_answer_interval:   # a dragged slider: at most this often
                    self.outbox.append((job_id, self.snapshot(slot)))
                    slot.dirty, slot.answer_now, slot.last_emit = False, False, time.monotonic()
                    answered = True
                else:
                    wait = min(wait, self.min_answer_interval - since)
            if slot.knobs_rest_at is not None:
                if time.monotonic() >= slot.knobs_rest_at and not slot.answer_now:   # the knob has rested
                    slot.knobs_rest_at, slot.job.knobs_moving = None, False
                    slot.dirty = slot.dirty or slot.job.waited_for_knobs   # the readouts it waited for
                    slot.job.waited_for_knobs = False
                else:
                    wait = min(wait, max(0.0, slot.knobs_rest_at - time.monotonic()))
        if answered:
            return 0.0
        for slot in list(self.slots.values()):
            if slot.state == "playing":
                now = time.monotonic()
                if now >= slot.next_due:
                    if slot.iteration_start is None:
                        slot.iteration_start = now
                    before = slot.job.step_count
                    self._step(slot)
                    if slot.job.step_count != before:   # the pace counts from the start of the iteration
                        slot.next_due = slot.iteration_start + slot.job.step_interval()
                        slot.iteration_start = None
                    else:                                # a slice of an iteration: go on at once
                        slot.next_due = time.monotonic()
                    if slot.knobs_rest_at is not None:   # a knob moves: training yields (``KNOB_TRAINING_SHARE``)
                        took = time.monotonic() - now
                        slot.next_due = max(slot.next_due, now + took / self.knob_training_share)
                wait = min(wait, max(0.0, slot.next_due - time.monotonic()))
        if self.commands_waiting is not None and self.commands_waiting():
            return 0.0   # read the command first: its answer is the next snapshot, with this step in it
        for slot in list(self.slots.values()):
            wait = min(wait, self._animate(slot))
        now = time.monotonic()
        for job_id, slot in self.slots.items():
            if slot.dirty and (now >= self.frame_time(slot) or slot.state != "playing"):
                self.outbox.append((job_id, self.snapshot(slot)))
                # a steady rhythm: a frame sent a little early or late does not move the ones after it
                on_time = abs(now - slot.frame_due) < self.min_interval
                slot.frame_due = (slot.frame_due if on_time else now) + self.min_interval
                slot.dirty, slot.last_emit = False, now
            if slot.dirty:
                wait = min(wait, max(0.0, self.frame_time(slot) - now))
        return wait

    def frame_time(self, slot: JobSlot) -> float:
        """When a playing slot's next frame may go: when it is due, less half a step (a frame that waited
        for the step after this one would be later than one sent now is early). Frames keep a steady
        rhythm (``frame_due``), so that jobs whose steps do not divide the frame interval keep its rate."""
        return slot.frame_due - min(slot.step_cost, self.min_interval) / 2

    def _animate(self, slot: JobSlot) -> float:
        """Advance the job's animation one frame per snapshot interval; returns seconds until the next."""
        now = time.monotonic()
        if slot.state == "error" or now < slot.next_frame:
            return max(0.0, slot.next_frame - now)
        try:
            moved = bool(slot.job.animate())
        except Exception as exc:
            slot.notice, slot.dirty, moved = f"animation stopped: {describe_exception(exc)}", True, False
        if not moved:
            return float("inf")
        slot.dirty, slot.next_frame = True, now + self.min_interval
        return self.min_interval

    def snapshot(self, slot: JobSlot) -> dict:
        started = time.perf_counter()
        try:
            snap = slot.job.snapshot()
        except Exception as exc:
            snap = {"step": slot.job.step_count}
            slot.error = f"snapshot failed: {describe_exception(exc)}"
        slot.snapshot_cost = time.perf_counter() - started
        snap["status"] = {"state": slot.state, "error": slot.error, "notice": slot.notice,
                          "steps_per_sec": slot.steps_per_sec() if slot.state == "playing" else 0.0,
                          "knob_changes": slot.knob_changes}
        return snap

    def close_all(self) -> None:
        """Close every job (engine shutdown)."""
        for slot in self.slots.values():
            with suppress(Exception):
                slot.job.close()
        self.slots.clear()

    def drain(self) -> list[tuple[str, dict]]:
        out, self.outbox = self.outbox, []
        return out
