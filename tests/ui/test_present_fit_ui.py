"""Presentation mode at projector sizes: every page fits the window's width, nothing clipped at the right."""
import pytest
from playwright.sync_api import expect

from tests.ui.conftest import PageProblems
from tests.ui.helpers import go_to, open_lab

pytestmark = pytest.mark.ui

PAGES = ("Energy Landscape", "Samplers", "Race", "Constraints", "RBM", "Images", "JEM & OOD", "Score Matching",
         "Symmetry & Latents")

# Plots (Bokeh figures and their canvases, inside shadow roots), tables and their cells whose right edge
# lies past the window's; and elements that scroll sideways (a horizontal scroll bar).
PAST_THE_RIGHT_EDGE_JS = """() => {
  const width = window.innerWidth, past = [], scrolling = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      const tag = el.tagName.toLowerCase();
      const cls = typeof el.className === 'string' ? el.className : '';
      const overflow = getComputedStyle(el).overflowX;
      if ((overflow === 'auto' || overflow === 'scroll') && el.scrollWidth > el.clientWidth + 1)
        scrolling.push(`${tag}.${cls.slice(0, 40)}`);
      const plot = tag === 'canvas' || /\\bbk-(Figure|Canvas|Plot)\\b/.test(cls);
      const table = tag === 'table' || tag === 'td' || tag === 'th';
      if (!plot && !table) continue;
      const box = el.getBoundingClientRect();
      if (box.width > 0 && box.right > width + 1)
        past.push(`${tag}.${cls.slice(0, 40)} ${(el.textContent || '').trim().slice(0, 20)} right=${Math.round(box.right)}`);
    }
  };
  walk(document);
  const doc = document.scrollingElement;
  return {past: past.slice(0, 4), past_count: past.length, scrolling, scroll_width: doc.scrollWidth,
          client_width: doc.clientWidth};
}"""

COUNT_PLOTS_JS = """() => { let n = 0;
  const walk = (root) => { for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) walk(el.shadowRoot);
    if (el.tagName === 'CANVAS' && el.getBoundingClientRect().width > 0) n++; } };
  walk(document); return n; }"""


def show(page, name: str) -> None:
    if name == "Race":
        go_to(page, "Samplers")
        page.get_by_text("Race", exact=True).click()
        expect(page.locator("#race-hmc-grad_evals")).to_be_visible(timeout=20000)
    else:
        go_to(page, name)
    page.wait_for_function(f"() => ({COUNT_PLOTS_JS})() > 0", timeout=20000)


SIZES = ((1280, 720), (1920, 1080))


def misfit(page) -> dict | None:
    """What extends past the window's right edge or scrolls sideways; None when everything fits."""
    page.wait_for_timeout(500)     # the layout settles after a snapshot or a resize
    found = page.evaluate(PAST_THE_RIGHT_EDGE_JS)
    if found["past"] or found["scrolling"] or found["scroll_width"] > found["client_width"]:
        return found
    return None


def test_every_page_fits_both_projector_sizes_in_presentation_mode(browser, lab_url):
    """Each page is checked at both sizes: opened at one, then the window is resized to the other (as when a
    projector is switched mid-talk); the size a page opens at alternates from page to page."""
    sizes = list(SIZES)
    context = browser.new_context(viewport=dict(zip(("width", "height"), sizes[0])))
    page = context.new_page()
    problems = PageProblems(page, lab_url)
    try:
        open_lab(page, lab_url, "?present=1")
        misfits = {}
        for name in PAGES:
            show(page, name)
            for width, height in sizes:
                page.set_viewport_size({"width": width, "height": height})
                found = misfit(page)
                if found:
                    misfits[f"{name} at {width}×{height}"] = found
            sizes.reverse()
        assert not misfits, misfits
        problems.assert_clean()
    finally:
        context.close()
