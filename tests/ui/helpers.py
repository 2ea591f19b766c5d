"""Shared browser-test steps: open the lab, go to a page, find a slider by its label."""
import re

from playwright.sync_api import expect


def open_lab(page, lab_url, query=""):
    page.goto(f"{lab_url}/main{query}", wait_until="networkidle", timeout=60000)
    expect(page.get_by_role("button", name="Play").first).to_be_visible(timeout=30000)
    # the engine process has started and sent its first snapshot
    expect(page.locator("#ebm-status")).not_to_have_attribute("data-state", "starting", timeout=60000)


def go_to(page, name: str):
    page.get_by_role("button", name=name, exact=True).click()
    expect(page.locator("#ebm-status")).to_contain_text(name, timeout=20000)
    expect(page.locator("#ebm-status")).not_to_have_attribute("data-state", "starting", timeout=60000)


def slider_handle(page, label: str, within: str | None = None):
    """The noUiSlider handle drawn just below the text ``label`` (Bokeh sliders live in shadow roots);
    ``within`` (a CSS selector such as ``#main``) picks the label inside that part of the page."""
    scope = page.locator(within) if within else page
    text = scope.get_by_text(re.compile("^" + re.escape(label))).first
    tb = text.bounding_box()
    best, best_dy = None, 1e9
    tracks = page.locator(".noUi-target")
    for i in range(tracks.count()):
        rb = tracks.nth(i).bounding_box()
        if rb is None:
            continue
        dy = rb["y"] - tb["y"]
        below = rb["x"] - 20 <= tb["x"] <= rb["x"] + rb["width"]   # the label's slider, not the next column's
        if below and 0 < dy < 60 and dy < best_dy:
            best, best_dy = tracks.nth(i).locator(".noUi-handle").first, dy
    assert best is not None, f"no slider found under the label {label!r}"
    return best


def drag(page, handle, dx: float):
    handle.scroll_into_view_if_needed()   # mouse events only reach what is inside the viewport
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def number(page, selector: str) -> float:
    text = page.locator(selector).inner_text().strip()
    return float(text) if text not in ("", "–") else float("nan")


def pause(page):
    """Press Pause and wait for the paused state. On a loaded machine a click that lands while the
    transport row is being re-rendered can be lost, so a second press is allowed; the job must be
    paused after it."""
    status = page.locator("#ebm-status")
    for attempt in range(2):
        page.get_by_role("button", name="Pause").first.click()
        try:
            expect(status).to_have_attribute("data-state", "paused", timeout=10000)
            return
        except AssertionError:
            if attempt == 1:
                raise


def checkbox(page, label: str):
    """The checkbox whose text is ``label`` (Bokeh draws the text beside the box, not in a <label>)."""
    boxes = page.get_by_role("checkbox")
    for i in range(boxes.count()):
        if boxes.nth(i).evaluate("e => e.nextElementSibling && e.nextElementSibling.textContent") == label:
            return boxes.nth(i)
    raise AssertionError(f"no checkbox labelled {label!r}")
