"""A snapshot is taken in as soon as the engine has sent it, not at the next tick of the periodic drain
(every 25 ms): the doorbell watches the file descriptor of the engine's snapshot queue on the server's
event loop, and runs the session's drain on the document's next tick when it becomes readable.
"""
from __future__ import annotations

import select
from typing import Callable

from tornado.ioloop import IOLoop


def _readable(fd: int) -> bool:
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return False


class SnapshotDoorbell:
    """Call ``ring`` (on the document's next tick) when ``signal()``'s descriptor becomes readable.

    ``signal`` returns ``(generation, fd)`` or ``None`` (no engine yet); ``schedule`` puts a callback on
    the document's next tick; ``follow()``, called from the periodic drain, watches the current
    descriptor. After a ring the watch resumes at once if the drain emptied the queue, or at the next
    ``follow()`` if it did not (a drain that skips its poll must not make the loop spin)."""

    def __init__(self, signal: Callable[[], tuple[int, int] | None], ring: Callable[[], None],
                 schedule: Callable[[Callable[[], None]], None], loop: IOLoop | None = None):
        self.signal = signal
        self.ring = ring
        self.schedule = schedule
        self.loop = loop or IOLoop.current()
        self.watched: tuple[int, int] | None = None   # (generation, fd) with a handler on the loop
        self.armed = False
        self.closed = False

    def follow(self) -> None:
        """Watch the current queue's descriptor (a new one after a restart); re-arm after a ring."""
        if self.closed:
            return
        current = self.signal()
        if current != self.watched:
            self._unwatch()
            if current is not None:
                self.watched = current
                self._arm()
        elif current is not None and not self.armed:
            self._arm()

    def close(self) -> None:
        self.closed = True
        self._unwatch()

    def _arm(self) -> None:
        self.loop.add_handler(self.watched[1], self._on_readable, IOLoop.READ)
        self.armed = True

    def _unwatch(self) -> None:
        if self.watched is not None and self.armed:
            self.loop.remove_handler(self.watched[1])
        self.watched, self.armed = None, False

    def _on_readable(self, fd: int, _events: int) -> None:
        # one ring per arrival: the descriptor stays readable until the drain has polled
        self.loop.remove_handler(fd)
        self.armed = False
        self.schedule(self._ring)

    def _ring(self) -> None:
        if self.closed:
            return
        self.ring()
        watched = self.watched
        if not self.closed and watched is not None and not self.armed and self.signal() == watched \
                and not _readable(watched[1]):
            self._arm()
