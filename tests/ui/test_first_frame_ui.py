"""Plots before their first data, in headless Chromium: an empty frame on the page's box, with a hint."""
import pytest

from tests.ui.helpers import open_lab

pytestmark = pytest.mark.ui

# Runs before the lab's scripts: records the surfaces' hints as the browser first holds the document,
# before the engine's first snapshot can reach it (the server sends none before the page has loaded).
WATCH_HINTS_JS = """(() => {
  const watch = setInterval(() => {
    const docs = window.Bokeh && window.Bokeh.documents;
    if (!docs || !docs.length) return;
    const hints = [...docs[0].all_models].filter((m) => m.name === 'waiting-hint');
    if (!hints.length) return;
    clearInterval(watch);
    window.firstHints = hints.map((m) => ({visible: m.visible, text: m.text, x: m.x, y: m.y}));
    window.hintModels = hints;
  }, 5);
})();"""


def test_score_matching_shows_hints_on_its_real_box_until_the_first_grids(watched_page, lab_url):
    page = watched_page
    page.add_init_script(WATCH_HINTS_JS)
    open_lab(page, lab_url, "?page=Score+Matching&dataset=banana")
    first = page.evaluate("() => window.firstHints")
    assert len(first) == 4                                       # two score fields, two heatmaps
    for hint in first:
        assert hint["visible"] and hint["text"] == "press Play, or Start from pretrained"
        assert (hint["x"], hint["y"]) == (0.0, pytest.approx(4.5625))   # the middle of banana's box
    # the first snapshot's grids take the hints away, before anything was played
    page.wait_for_function("() => window.hintModels.every((m) => !m.visible)", timeout=30000)
    assert page.locator("#ebm-status").get_attribute("data-state") == "paused"
