"""The JEM & OOD page in headless Chromium: train, read the metrics, move the threshold, draw a digit."""
import re

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import go_to, open_lab

pytestmark = pytest.mark.ui

NUMBER = re.compile(r"^\d\.\d{3}$")


def canvas_of_size(page, width: float, height: float):
    """The visible canvas whose box is about ``width`` × ``height`` px (Bokeh figures are canvases)."""
    canvases = page.locator("canvas:visible")
    for i in range(canvases.count()):
        box = canvases.nth(i).bounding_box()
        if box and abs(box["width"] - width) < 25 and abs(box["height"] - height) < 25:
            return canvases.nth(i)
    raise AssertionError(f"no {width}×{height} canvas on the page")


def test_jem_trains_the_threshold_moves_and_a_drawing_is_scored(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "JEM & OOD")
    expect(page.locator("#ood-gaussian-energy-auroc")).to_have_text(NUMBER, timeout=60000)
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    expect(page.locator("#ebm-step")).to_have_text(re.compile(r"^\d{2,}$"), timeout=60000)
    page.get_by_role("button", name="Pause").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "paused", timeout=10000)
    for cell in ("#ood-uniform-softmax-auroc", "#ood-natural-energy-fpr95", "#ood-rotated-softmax-aupr"):
        expect(page.locator(cell)).to_have_text(NUMBER)

    # the threshold starts where it accepts 95% of the test digits; a click on the histogram moves it
    rate_id = page.locator("#rate-id")
    expect(rate_id).to_have_text(re.compile(r"^(9[5-9]|100)\.\d%$"))
    threshold_before = page.locator("#rate-threshold").inner_text()
    histogram = canvas_of_size(page, 800, 340)
    box = histogram.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.5)
    expect(page.locator("#rate-threshold")).not_to_have_text(threshold_before, timeout=10000)
    expect(rate_id).not_to_have_text(re.compile(r"^(9[5-9]|100)\.\d%$"), timeout=10000)
    page.get_by_role("button", name="Threshold at 95% of test digits").click()
    expect(rate_id).to_have_text(re.compile(r"^(9[5-9]|100)\.\d%$"), timeout=10000)

    # draw a stroke on the canvas: the drawing is scored and marked on the histogram
    canvas = canvas_of_size(page, 150, 150)
    cb = canvas.bounding_box()
    page.mouse.move(cb["x"] + cb["width"] * 0.5, cb["y"] + cb["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(cb["x"] + cb["width"] * 0.5, cb["y"] + cb["height"] * 0.85, steps=12)
    page.mouse.up()
    expect(page.locator("#probe-score")).to_have_text(re.compile(r"^-?\d+\.\d{3}$"), timeout=15000)
    expect(page.locator("#probe-verdict")).to_have_text(re.compile("out-of-distribution|accepted"))
