"""The page in view always runs: with four pages playing behind it, Score Matching plays at once and keeps
playing, and its state shows as a chip with its full text."""
import time

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import go_to, number, open_lab

pytestmark = pytest.mark.ui

PLAYED_FIRST = ("Energy Landscape", "Samplers", "Constraints", "RBM")


def press_play(page) -> None:
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=15000)


def test_the_page_in_view_plays_while_four_hidden_pages_were_playing(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    for name in PLAYED_FIRST:
        go_to(page, name)
        press_play(page)
    go_to(page, "Score Matching")
    page.get_by_role("button", name="Play").first.click()
    pressed = time.monotonic()
    samples = []                                   # (seconds after Play, state, iteration)
    while time.monotonic() - pressed < 20:
        page.wait_for_timeout(2000)
        status = page.locator("#ebm-status")
        samples.append((time.monotonic() - pressed, status.get_attribute("data-state"), number(page, "#ebm-step")))
    late = [s for s in samples if s[0] >= 8]
    assert all(state == "playing" for _, state, _ in late), samples
    steps = [step for _, _, step in late]
    assert all(b > a for a, b in zip(steps, steps[1:])), samples
    chip = page.locator(".ebm-chip").first
    expect(chip).to_have_attribute("data-state", "playing")
    # a hidden page that was playing resumes when it is shown again (its Play is still pressed)
    go_to(page, "RBM")
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=15000)
    before = number(page, "#ebm-step")
    expect(page.locator("#ebm-step")).not_to_have_text(str(int(before)), timeout=10000)
