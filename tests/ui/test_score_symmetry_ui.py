"""Score Matching and Symmetry & Latents pages in headless Chromium: play, switch method, drag the group slider."""
import re

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import checkbox, drag, go_to, number, open_lab, pause, slider_handle

pytestmark = pytest.mark.ui


def canvas_png(page, css_class: str) -> bytes:
    return page.locator(f".{css_class} canvas").first.screenshot()


def test_score_matching_trains_beside_cd_and_switches_method(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "Score Matching")
    expect(page.locator("#readout-nll_sm")).not_to_have_text("–", timeout=30000)
    expect(page.locator("#readout-fisher_sm")).not_to_have_text("–")
    learned = canvas_png(page, "ebm-learned-field")
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    expect(page.locator("#readout-steps_cd")).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=20000)
    assert number(page, "#readout-steps_sm") > 0
    page.get_by_role("button", name="Sliced", exact=True).click()
    expect(page.get_by_role("button", name="Sliced", exact=True)).to_have_class(re.compile("bk-active"))
    before = number(page, "#readout-steps_sm")
    expect(page.locator("#readout-steps_sm")).not_to_have_text(str(int(before)), timeout=10000)
    assert canvas_png(page, "ebm-learned-field") != learned, "the learned score field did not redraw"
    drag(page, slider_handle(page, "Noise level σ"), 40)
    expect(page.get_by_text(re.compile(r"Noise level σ: (?!0\.1$)")).first).to_be_visible(timeout=5000)
    pause(page)


def test_symmetry_page_group_slider_and_latent_readouts(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "Symmetry & Latents")
    expect(page.locator("#readout-invariance_plain")).not_to_have_text("–", timeout=30000)
    assert number(page, "#readout-invariance_equivariant") < 1e-5 < number(page, "#readout-invariance_plain")
    expect(page.locator("#readout-nll_latent")).not_to_have_text("–")
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    expect(page.locator("#readout-group_order")).to_have_text("8")
    drag(page, slider_handle(page, "Group order n"), -60)
    label = page.get_by_text(re.compile(r"^Group order n: \d+$")).first
    expect(label).not_to_have_text(re.compile(r": 8$"), timeout=5000)
    order = int(label.inner_text().rsplit(":", 1)[1])   # where the slider came to rest
    expect(page.locator("#readout-group_order")).to_have_text(str(order), timeout=10000)
    assert number(page, "#readout-invariance_equivariant") < 1e-5
    checkbox(page, "Reflections (dihedral group)").check()
    expect(page.locator("#readout-group_order")).to_have_text(str(2 * order), timeout=10000)
    page.get_by_role("button", name="Pause").first.click()
