"""The JEM & OOD page in headless Chromium: train, read the metrics, move the threshold, draw a digit."""
import io
import re
import time

import numpy as np
import pytest
from PIL import Image
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


def red_line_x(canvas) -> float:
    """The x pixel (in the canvas) of the red threshold line, found in a screenshot."""
    image = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    red = (np.abs(image - np.array([0xD3, 0x3A, 0x2C])).sum(axis=2) < 40).sum(axis=0)
    assert red.max() > 50, "no threshold line on the histogram"
    return float(np.flatnonzero(red > 0.5 * red.max()).mean())


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
    x = red_line_x(histogram)
    page.mouse.move(box["x"] + x, box["y"] + box["height"] * 0.4)
    page.mouse.down()
    page.mouse.move(box["x"] + x - 60, box["y"] + box["height"] * 0.4, steps=8)
    page.mouse.up()
    expect(page.locator("#rate-threshold")).not_to_have_text(threshold_before, timeout=10000)
    expect(rate_id).not_to_have_text(re.compile(r"^(9[5-9]|100)\.\d%$"), timeout=10000)
    # the drag arrives as 8 moves: the readout changes with the first, the line ends where the last one was
    deadline = time.monotonic() + 10
    while abs(red_line_x(histogram) - (x - 60)) >= 8 and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert abs(red_line_x(histogram) - (x - 60)) < 8, "the threshold line did not follow the drag"
    page.get_by_role("button", name="Threshold at 95% of test digits").click()
    expect(rate_id).to_have_text(re.compile(r"^(9[5-9]|100)\.\d%$"), timeout=10000)
    page.mouse.click(box["x"] + box["width"] * 0.12, box["y"] + box["height"] * 0.5)    # a click moves it too
    expect(rate_id).not_to_have_text(re.compile(r"^(9[5-9]|100)\.\d%$"), timeout=10000)

    # draw a stroke on the canvas: the drawing is scored and marked on the histogram
    canvas = canvas_of_size(page, 150, 150)
    cb = canvas.bounding_box()
    page.mouse.move(cb["x"] + cb["width"] * 0.5, cb["y"] + cb["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(cb["x"] + cb["width"] * 0.5, cb["y"] + cb["height"] * 0.85, steps=12)
    page.mouse.up()
    expect(page.locator("#probe-score")).to_have_text(re.compile(r"^-?\d+\.\d{3}$"), timeout=15000)
    expect(page.locator("#probe-verdict")).to_have_text(re.compile("out-of-distribution|accepted"))

    # upload a PNG: it is scored in turn; a file that is not a PNG gets a clear message
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    before = page.locator("#probe-score").inner_text()
    upload = page.locator("input[type=file]")
    upload.set_input_files(files=[{"name": "one.png", "mimeType": "image/png", "buffer": buffer.getvalue()}])
    expect(page.locator("#probe-score")).not_to_have_text(before, timeout=15000)
    expect(page.locator("#probe-score")).to_have_text(re.compile(r"^-?\d+\.\d{3}$"))
    upload.set_input_files(files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}])
    expect(page.locator("#probe-error")).to_be_visible(timeout=15000)
    expect(page.locator("#probe-error")).to_contain_text("PNG")
