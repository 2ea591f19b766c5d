"""Browser tests: serve the real app with ``panel serve`` and drive Debian's Chromium with Playwright."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.server import CHROMIUM, CHROMIUM_ARGS, served_lab

server_pid: list[int] = []


def engine_processes() -> list[int]:
    """Pids of the served lab's engine processes (one per browser session).

    Engines are forked by a fork server, a child of the server: they are the server's
    grandchildren. Where engines are spawned instead, they are direct children; the fork server and
    multiprocessing's resource tracker, both direct children, are not engines."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    if not server_pid:
        return []
    server = server_pid[-1]
    helpers = set()
    for pid, parent in parents.items():
        if parent == server:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"forkserver" in cmdline or b"resource_tracker" in cmdline:
                helpers.add(pid)
    return [pid for pid, parent in parents.items()
            if (parent == server and pid not in helpers) or parent in helpers]


@pytest.fixture(scope="session")
def lab_url():
    """The served lab's base URL; the server is stopped after the session."""
    with served_lab() as (url, server):
        server_pid.append(server.pid)
        yield url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (see .ci/run)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}}


class PageProblems:
    """Console errors, page errors, failed loads and requests that leave the machine."""

    def __init__(self, page, base_url: str):
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.outside: list[str] = []
        local = (base_url, base_url.replace("http", "ws"), "data:", "blob:", "about:")
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", self._failed)
        page.on("request", lambda r: None if r.url.startswith(local) else self.outside.append(r.url))

    def _failed(self, request) -> None:
        # a document request aborted by a deliberate reload (theme switch) is not a failed load
        if request.resource_type == "document" and "ERR_ABORTED" in (request.failure or ""):
            return
        self.failed.append(f"{request.url} ({request.failure})")

    def assert_clean(self) -> None:
        assert not self.outside, f"requests leaving the machine: {self.outside[:5]}"
        assert not self.failed, f"failed requests: {self.failed[:5]}"
        assert not self.errors, f"console errors: {self.errors[:5]}"


@pytest.fixture
def watched_page(page, lab_url):
    """A Playwright page on the lab that records every problem; asserted clean at the end."""
    problems = PageProblems(page, lab_url)
    page.problems = problems
    yield page
    problems.assert_clean()
