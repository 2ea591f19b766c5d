"""Several browser sessions at once behind a small device limit: every job progresses (queued jobs take
turns), no console errors, and closing a tab ends its engine process and the server threads serving it."""
import time

import psutil
import pytest
from playwright.sync_api import expect

from tests.ui.conftest import PageProblems
from tests.ui.server import served_lab

pytestmark = pytest.mark.ui

SESSIONS = 3


@pytest.fixture(scope="module")
def gated_lab():
    """A lab that plays at most two jobs at once, with 4-second turns."""
    with served_lab({"EBM_LAB_JOBS_PER_DEVICE": "2", "EBM_LAB_TIME_SLICE_S": "4"}) as (url, server):
        yield url, psutil.Process(server.pid)


def parent_of(process: psutil.Process) -> int | None:
    """The parent pid, or None for a process that has just exited."""
    try:
        return process.ppid()
    except psutil.Error:
        return None


def engines(server: psutil.Process) -> int:
    """Engine processes: the server's descendants, less the fork server and multiprocessing's helpers."""
    return sum(1 for p in server.children(recursive=True) if parent_of(p) not in (server.pid, None))


def wait_until(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_sessions_share_the_device_fairly_and_closing_a_tab_frees_everything(browser, gated_lab):
    url, server = gated_lab
    threads_before, engines_before = server.num_threads(), engines(server)
    pages, problems = [], []
    for _ in range(SESSIONS):
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        problems.append(PageProblems(page, url))
        page.goto(f"{url}/main?page=Samplers", wait_until="domcontentloaded", timeout=60000)
        pages.append(page)
    for page in pages:
        expect(page.locator("#ebm-status")).not_to_have_attribute("data-state", "starting", timeout=60000)
        page.get_by_role("button", name="Play").first.click()
    states = set()

    def progressed() -> bool:
        steps = []
        for page in pages:
            states.add(page.locator("#ebm-status").get_attribute("data-state"))
            steps.append(int(page.locator("#ebm-step").inner_text()))
        return min(steps) > 0

    assert wait_until(lambda: progressed() and "queued" in states, 60), \
        f"some sessions never made progress or none waited its turn (states seen: {states})"
    assert engines(server) == engines_before + SESSIONS
    for expected_left, page in zip(range(SESSIONS - 1, -1, -1), pages):
        page.context.close()
        assert wait_until(lambda: engines(server) == engines_before + expected_left, 10), \
            "a closed tab's engine process kept running"
    assert wait_until(lambda: server.num_threads() <= threads_before, 10), \
        f"server threads {server.num_threads()} > {threads_before} after every tab closed"
    for p in problems:
        p.assert_clean()
