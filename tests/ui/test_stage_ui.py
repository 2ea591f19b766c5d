"""Demos and talks in headless Chromium: prepared links, the URL following a slider, presentation mode,
the "How it works" math and a download."""
import io
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.ui.helpers import drag, open_lab, slider_handle

pytestmark = pytest.mark.ui
SHOTS = Path("/tmp") / "ebm-lab-stage-ui"


def query_of(page) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def test_prepared_link_sets_the_widgets_then_math_and_download(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url, "?page=Samplers&sampler=hmc&step_size=0.3&n_leapfrog=7&n_chains=12&temperature=nan")
    expect(page.locator("#ebm-status")).to_contain_text("Samplers")
    expect(page.get_by_role("button", name="HMC", exact=True)).to_have_class(re.compile("bk-active"))
    expect(page.get_by_text(re.compile(r"^Step size ε: 0\.3$")).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Leapfrog steps \(HMC\): 7$"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Temperature T: 1$")).first).to_be_visible()
    notice = page.get_by_text(re.compile("Ignored link values"))
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("temperature")
    # the "How it works" card typesets its math offline (MathJax SVG)
    page.get_by_text("How it works").first.click()
    math = page.locator("mjx-container svg")
    expect(math.first).to_be_visible(timeout=10000)
    assert math.count() > 5
    expect(page.get_by_text(re.compile("Neal 2011")).first).to_be_visible()
    # the chains download as .npz
    page.get_by_role("button", name="Step").first.click()
    page.get_by_text("Export", exact=True).first.click()
    with page.expect_download(timeout=20000) as info:
        page.get_by_role("button", name=re.compile(r"Download arrays \(\.npz\)")).click()
    data = np.load(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert data["positions"].shape == (12, 2)
    assert np.isfinite(data["positions"]).all()


def test_moving_a_slider_writes_the_url(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    # the address is written once the page has loaded in the browser
    page.wait_for_function("() => new URLSearchParams(location.search).get('page') === 'Energy Landscape'",
                           timeout=15000)
    assert "temperature" not in query_of(page)
    drag(page, slider_handle(page, "Temperature T"), 60)
    expect(page.get_by_text(re.compile(r"^Temperature T: (?!1$)")).first).to_be_visible(timeout=5000)
    shown = page.get_by_text(re.compile(r"^Temperature T: ")).first.inner_text().split(": ")[1]
    page.wait_for_function("v => new URLSearchParams(location.search).get('temperature') === v", arg=shown,
                           timeout=5000)
    assert float(query_of(page)["temperature"]) == pytest.approx(float(shown))


def test_present_switch_hides_secondary_controls_enlarges_text_and_keeps_the_scene(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url, "?page=Energy+Landscape&dataset=rings")
    label = page.get_by_text(re.compile(r"^Temperature T: ")).first
    normal = float(label.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    expect(page.get_by_text("Model and regularisation")).to_be_visible()
    page.get_by_role("switch").nth(1).click()            # the header's second switch: Present
    page.wait_for_url(re.compile(r"present=1"), wait_until="commit", timeout=60000)
    expect(page.get_by_role("button", name="Play").first).to_be_visible(timeout=60000)
    expect(page.locator("#ebm-status")).not_to_have_attribute("data-state", "starting", timeout=60000)
    assert query_of(page)["dataset"] == "rings" and query_of(page)["page"] == "Energy Landscape"
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "present.png"))
    label = page.get_by_text(re.compile(r"^Temperature T: ")).first
    presented = float(label.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert presented > normal * 1.1
    expect(page.get_by_text("Model and regularisation")).to_be_hidden()
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"              # the dark theme
