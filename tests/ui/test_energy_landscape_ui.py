"""The Energy Landscape page in headless Chromium: Play trains live, the temperature slider acts at once."""
import re

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import open_lab as open_lab_page

pytestmark = pytest.mark.ui


def open_lab(page, lab_url, query=""):
    open_lab_page(page, lab_url, query)
    expect(page.locator("#readout-log_z_grid")).not_to_have_text("–", timeout=60000)


def surface_png(page) -> bytes:
    return page.locator("canvas:visible").first.screenshot()


def iteration(page) -> int:
    return int(page.locator("#ebm-step").inner_text())


def test_play_trains_and_the_surface_redraws(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    expect(page.get_by_text("Energy Landscape").first).to_be_visible()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "paused")
    before = surface_png(page)
    page.get_by_role("button", name="Play").click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    page.wait_for_function("() => true")   # let a few frames arrive
    expect(page.locator("#ebm-step")).not_to_have_text(re.compile(r"^[0-9]$"), timeout=10000)
    first = iteration(page)
    page.wait_for_timeout(1500)
    assert iteration(page) > first, "the iteration counter did not move while playing"
    assert surface_png(page) != before, "the energy surface did not change while training"
    rate = float(page.locator("#ebm-rate").inner_text())
    assert rate > 0
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "paused", timeout=10000)


def test_temperature_slider_changes_the_log_z_readout(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    readout = page.locator("#readout-log_z_grid")
    before = readout.inner_text()
    handle = page.locator(".noUi-handle").first   # the first slider of the page is the temperature
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    expect(readout).not_to_have_text(before, timeout=10000)
    expect(page.get_by_text(re.compile(r"Temperature T: [1-9]"))).to_be_visible()


def test_energy_view_and_dark_theme(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    density = surface_png(page)
    energy_button = page.get_by_role("button", name="Energy", exact=True)
    energy_button.click()
    expect(energy_button).to_have_class(re.compile("bk-active"), timeout=10000)
    page.wait_for_timeout(500)
    assert surface_png(page) != density, "switching to the energy view did not redraw the surface"
    page.get_by_role("switch").first.click()
    page.wait_for_url(re.compile(r"theme=dark"), timeout=20000)
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=30000)
    expect(page.get_by_role("switch").first).to_be_checked(timeout=10000)


def test_closing_the_tab_stops_its_engine_process(context, lab_url):
    from tests.ui.conftest import engine_processes

    before = set(engine_processes())
    page = context.new_page()
    open_lab(page, lab_url)
    page.get_by_role("button", name="Play").click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=10000)
    mine = set(engine_processes()) - before
    assert len(mine) == 1, f"expected one engine process for the new session, found {mine}"
    page.close()
    page.context.pages[0].wait_for_timeout(0) if page.context.pages else None
    import time

    deadline = time.monotonic() + 10
    while mine & set(engine_processes()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not mine & set(engine_processes()), "the engine process outlived its browser session"
