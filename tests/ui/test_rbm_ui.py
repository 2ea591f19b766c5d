"""The RBM page in headless Chromium: train, read the AIS log-likelihood, clamp and complete."""
import re

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import go_to, open_lab

pytestmark = pytest.mark.ui


def test_rbm_trains_reports_ais_and_completes(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "RBM")
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    expect(page.locator("#ebm-step")).to_have_text(re.compile(r"^\d{2,}$"), timeout=20000)
    expect(page.locator("#readout-test_ll")).to_have_text(re.compile(r"^-\d+\.\d+ ± \d"), timeout=60000)
    canvases = page.locator("canvas:visible")
    before = canvases.last.screenshot()
    page.get_by_role("button", name="Hide half and complete").click()
    page.wait_for_timeout(1500)
    assert canvases.last.screenshot() != before, "the clamp-and-complete view did not change"
    page.get_by_role("button", name="Pause").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "paused", timeout=10000)
