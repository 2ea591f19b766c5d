"""Samplers with compiling on, as users run it: Play draws at once (eager), the status line says
"compiling…", then "compiled · N chain-steps/s", and the swap neither restarts the chains nor their
diagnostics window: the iteration count and the window's draws only grow across it."""
import re

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import go_to, number, open_lab
from tests.ui.server import served_lab

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def compiling_lab_url():
    with served_lab({"EBM_LAB_COMPILE": "auto"}) as (url, _server):
        yield url


def test_samplers_swap_to_compiled_chains_without_a_jump(page, compiling_lab_url):
    open_lab(page, compiling_lab_url)
    go_to(page, "Samplers")
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    path = page.locator("#ebm-sampler-path")
    expect(path).to_have_text(re.compile(r"^(compiling…|compiled)"), timeout=10000)
    seen = []   # (path, iteration, draws in the diagnostics window), every 200 ms
    for _ in range(900):
        text = path.inner_text()
        seen.append((text, number(page, "#ebm-step"), number(page, "#diag-n_draws")))
        if text.startswith("compiled") and sum(s[0].startswith("compiled") for s in seen) >= 10:
            break
        page.wait_for_timeout(200)
    assert seen[-1][0].startswith("compiled"), f"never compiled: {seen[-1][0]}"
    assert re.match(r"^compiled · \d+\.\dk chain-steps/s$", seen[-1][0])
    steps = [s[1] for s in seen]
    assert steps == sorted(steps) and steps[-1] > steps[0]
    draws = [d for _, _, d in seen if d == d]   # NaN while the window is too short
    assert draws == sorted(draws), "the diagnostics window restarted at the swap"
    page.get_by_role("button", name="Pause").first.click()
