"""The doorbell runs the drain when the engine's snapshot descriptor becomes readable, once per arrival."""
from __future__ import annotations

import asyncio
import os
import threading

import pytest
from tornado.ioloop import IOLoop

from app.live.snapshot_doorbell import SnapshotDoorbell


@pytest.fixture
def pipes():
    made = []

    def make():
        r, w = os.pipe()
        made.extend((r, w))
        return r, w
    yield make
    for fd in made:
        os.close(fd)


def on_own_loop(body) -> None:
    """Run ``body(loop)``, a coroutine function, on a fresh event loop in a thread of its own (the test
    process may already run one in its main thread, e.g. Playwright's)."""
    failure = []

    def main():
        async def with_loop():
            await body(IOLoop.current())
        try:
            asyncio.run(with_loop())
        except BaseException as exc:   # noqa: BLE001 - re-raised in the test's thread
            failure.append(exc)
    thread = threading.Thread(target=main)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    if failure:
        raise failure[0]


async def run_for(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


class Queue:
    """A stand-in for the engine's snapshot queue: a pipe, and a drain that may or may not read it."""

    def __init__(self, fd_pair, generation: int = 0):
        self.r, self.w = fd_pair
        self.generation = generation
        self.drained = 0
        self.reads = True

    def signal(self):
        return self.generation, self.r

    def drain(self):
        self.drained += 1
        if self.reads:
            os.read(self.r, 4096)


def doorbell_for(queue: Queue, loop: IOLoop, signal=None) -> SnapshotDoorbell:
    return SnapshotDoorbell(signal or queue.signal, queue.drain, loop.add_callback, loop=loop)


def test_each_arrival_rings_once_and_the_watch_resumes(pipes):
    on_own_loop(lambda loop: each_arrival(loop, pipes))


async def each_arrival(loop, pipes):
    queue = Queue(pipes())
    bell = doorbell_for(queue, loop)
    bell.follow()
    await run_for()
    assert queue.drained == 0                 # nothing sent, nothing drained
    os.write(queue.w, b"s")
    await run_for()
    assert queue.drained == 1 and bell.armed  # drained, and watching again without a periodic tick
    os.write(queue.w, b"s")
    await run_for()
    assert queue.drained == 2


def test_a_drain_that_leaves_the_snapshot_does_not_spin(pipes):
    on_own_loop(lambda loop: no_spin(loop, pipes))


async def no_spin(loop, pipes):
    queue = Queue(pipes())
    queue.reads = False                       # e.g. no browser connected yet: the drain skips its poll
    bell = doorbell_for(queue, loop)
    bell.follow()
    os.write(queue.w, b"s")
    await run_for(0.1)
    assert queue.drained == 1 and not bell.armed
    bell.follow()                             # the next periodic tick watches again
    await run_for()
    assert queue.drained == 2


def test_no_engine_no_watch_and_a_restart_moves_the_watch(pipes):
    on_own_loop(lambda loop: restart_moves(loop, pipes))


async def restart_moves(loop, pipes):
    first, second = Queue(pipes(), generation=0), Queue(pipes(), generation=1)
    current = {"queue": None}
    drained = []

    def signal():
        return current["queue"].signal() if current["queue"] else None

    def drain():
        drained.append(current["queue"])
        os.read(current["queue"].r, 4096)
    bell = SnapshotDoorbell(signal, drain, loop.add_callback, loop=loop)
    bell.follow()
    assert bell.watched is None
    current["queue"] = first
    bell.follow()
    assert bell.watched == (0, first.r)
    current["queue"] = second                 # the engine restarted with a new queue
    bell.follow()
    assert bell.watched == (1, second.r)
    os.write(first.w, b"s")                   # the old queue no longer rings
    await run_for()
    assert drained == []
    os.write(second.w, b"s")
    await run_for()
    assert drained == [second]


def test_closed_doorbell_does_not_ring(pipes):
    on_own_loop(lambda loop: closed(loop, pipes))


async def closed(loop, pipes):
    queue = Queue(pipes())
    bell = doorbell_for(queue, loop)
    bell.follow()
    bell.close()
    os.write(queue.w, b"s")
    await run_for()
    bell.follow()
    await run_for()
    assert queue.drained == 0 and bell.watched is None
