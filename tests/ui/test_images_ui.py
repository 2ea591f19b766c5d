"""The Images page in headless Chromium: train, read the sample quality, generate from noise, export a PNG;
the first Play continues the pretrained ConvEBM, and Start from scratch resets it."""
import re

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import go_to, open_lab

pytestmark = pytest.mark.ui


def test_images_trains_scores_generates_and_exports(watched_page, lab_url, tmp_path):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "Images")
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    expect(page.locator("#ebm-step")).to_have_text(re.compile(r"^\d{2,}$"), timeout=30000)
    expect(page.locator("#readout-fid")).to_have_text(re.compile(r"^\d+\.\d+$"), timeout=60000)
    expect(page.locator("#readout-inception_score")).to_have_text(re.compile(r"^\d+\.\d+$"), timeout=10000)
    page.get_by_role("button", name="Pause").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "paused", timeout=10000)

    page.get_by_role("button", name="Generate from noise").click()
    expect(page.locator("#readout-generation_step")).to_have_text(re.compile(r"^\d+$"), timeout=10000)
    expect(page.locator("#readout-generation_step")).to_have_text("60", timeout=30000)

    with page.expect_download(timeout=15000) as download:
        page.get_by_role("button", name="Export samples as PNG").click()
    path = tmp_path / "samples.png"
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"\x89PNG")

    page.get_by_role("button", name="EBM + generator").click()
    page.get_by_role("button", name="Step").first.click()
    expect(page.locator("#ebm-step")).to_have_text("1", timeout=30000)


def test_the_first_play_continues_the_pretrained_model_and_start_from_scratch_resets(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "Images")
    expect(page.get_by_role("button", name="Start from scratch")).to_be_hidden()
    page.get_by_role("button", name="Play").first.click()
    expect(page.get_by_text(re.compile(r"^Continuing from pretrained conv_ebm-digits \(iteration \d+\)"))).to_be_visible(
        timeout=30000)
    expect(page.locator("#ebm-step")).to_have_text(re.compile(r"^\d{3,}$"), timeout=10000)   # the model's iterations
    page.get_by_role("button", name="Start from scratch").click()
    expect(page.locator("#ebm-step")).to_have_text("0", timeout=20000)
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "paused", timeout=10000)
    expect(page.get_by_text(re.compile("^Started from scratch"))).to_be_visible(timeout=10000)
    expect(page.get_by_role("button", name="Start from scratch")).to_be_hidden()
