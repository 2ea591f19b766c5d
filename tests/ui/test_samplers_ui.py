"""Samplers and Constraints pages in headless Chromium: play, drag a slider, click to spawn, draw a box."""
import re

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import checkbox, drag, go_to, number, open_lab, slider_handle

pytestmark = pytest.mark.ui


def surface_canvas(page):
    return page.locator("canvas:visible").first


def window_restarted(page, before: float, seconds: float = 4.0) -> bool:
    """Poll the diagnostics table until its draw count falls below ``before`` (a restarted window)."""
    for _ in range(int(seconds / 0.1)):
        n = number(page, "#diag-n_draws")
        if not n >= before:   # NaN ('–') while the new window has too few draws
            return True
        page.wait_for_timeout(100)
    return False


def wait_for_draws(page, at_least: int, seconds: float = 30.0) -> float:
    """Poll the diagnostics table until its window holds ``at_least`` draws; returns the count."""
    for _ in range(int(seconds / 0.1)):
        n = number(page, "#diag-n_draws")
        if n >= at_least:
            return n
        page.wait_for_timeout(100)
    raise AssertionError(f"the diagnostics window did not reach {at_least} draws in {seconds} s")


def test_samplers_play_slider_and_click_to_spawn(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "Samplers")
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    expect(page.locator("#diag-n_draws")).to_have_text(re.compile(r"^\d{2,}$"), timeout=20000)
    expect(page.locator("#diag-rhat")).not_to_have_text("–")
    # dragging the temperature slider restarts the diagnostics window for the new setting
    before = number(page, "#diag-n_draws")
    drag(page, slider_handle(page, "Temperature T"), 40)
    expect(page.get_by_text(re.compile(r"Temperature T: (?!1$)")).first).to_be_visible(timeout=5000)
    assert window_restarted(page, before), "the temperature change did not reach the sampler"
    # clicking the surface starts chains there: the diagnostics window restarts. Its draw count must
    # first be well above what a fresh window shows at its first refresh, or a restart would not show
    grown = wait_for_draws(page, at_least=60)
    box = surface_canvas(page).bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6)
    assert window_restarted(page, grown), "clicking the surface did not start new chains"
    page.get_by_role("button", name="Pause").first.click()


def test_the_step_size_is_one_log_scale_slider(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url, "?page=Samplers")
    label = page.get_by_text(re.compile(r"^Step size ε: ")).first
    expect(label).to_have_text("Step size ε: 0.1")
    assert page.locator("input[type=number]").count() == 0        # no spinner beside the slider
    drag(page, slider_handle(page, "Step size ε"), -60)               # left, a fraction of a decade
    expect(label).not_to_have_text("Step size ε: 0.1", timeout=5000)
    shown = float(label.inner_text().split(": ")[1])
    assert 0.01 < shown < 0.1
    # the knob takes the value the label shows, and a link carries it
    page.wait_for_function("v => new URLSearchParams(location.search).get('step_size') === v", arg=f"{shown:g}",
                           timeout=5000)


def test_samplers_race_tab(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "Samplers")
    page.get_by_text("Race", exact=True).click()
    race_play = page.get_by_role("button", name="Play").nth(1)
    race_play.click()
    expect(page.locator("#race-hmc-grad_evals")).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=20000)
    mala = int(page.locator("#race-mala-grad_evals").inner_text())
    hmc = int(page.locator("#race-hmc-grad_evals").inner_text())
    assert abs(mala - hmc) <= 20 * 2   # same gradient budget, up to a round in flight


def test_constraints_weight_slider_hard_mode_and_drawn_box(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    go_to(page, "Constraints")
    canvas = surface_canvas(page)
    before = canvas.screenshot()
    drag(page, slider_handle(page, "Ball ‖x‖ ≤ 2"), 80)
    page.wait_for_timeout(800)
    assert canvas.screenshot() != before, "moving a weight slider did not reshape the surface"
    # draw a box with Bokeh's box-edit tool: shift-drag on the plot
    page.get_by_title("Draw constraint boxes").click()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    page.keyboard.down("Shift")
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 80, y0 + 80, steps=6)
    page.mouse.up()
    page.keyboard.up("Shift")
    expect(page.locator("#readout-n_boxes")).to_have_text("1", timeout=10000)
    checkbox(page, "Hard constraints (walls)").check()
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    page.wait_for_timeout(1500)
    expect(page.locator("#readout-violation_rate")).to_have_text("0.000", timeout=10000)


FRAME_COUNTERS_JS = """() => { const out = {};
  for (const m of window.Bokeh.documents[0].all_models)
    if (m.title === 'frame' || m.title === 'frame-ack') out[m.title] = m.value;
  return out; }"""


def test_the_browser_answers_each_frame(watched_page, lab_url):
    """Frames are paced by the browser's answers: they keep coming faster than the one-a-second
    fallback for an unanswered frame, and the answer matches the frame the browser last applied."""
    page = watched_page
    open_lab(page, lab_url, "?page=Samplers")
    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    start = page.evaluate(FRAME_COUNTERS_JS)
    page.wait_for_timeout(4000)
    end = page.evaluate(FRAME_COUNTERS_JS)
    assert end["frame"] - start["frame"] > 4 * 1.5, (start, end)
    assert end["frame"] - end["frame-ack"] in (0, 1)   # 1: a frame's answer on its way back
    page.get_by_role("button", name="Pause").first.click()
