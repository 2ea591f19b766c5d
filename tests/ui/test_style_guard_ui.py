"""Bokeh's repaint does not rewrite unchanged stylesheets, so a frame costs few style recalculations."""
import pytest
from playwright.sync_api import expect

from app.workarounds.style_rewrite_guard import GUARD_JS
from tests.ui.helpers import go_to, open_lab, pause

pytestmark = pytest.mark.ui

# one frame = one server message that changed plot data (as bench/app_latency.py counts them)
COUNT_FRAMES_JS = """() => {
  const w = window.__frames = {n: 0};
  let framed = false;
  Bokeh.documents[0].on_change((ev) => {
    if (ev.column_source !== undefined || ev.attr === 'data') {
      if (!framed) { framed = true; w.n++; queueMicrotask(() => { framed = false; }); }
    }
  }, true);
}"""


def test_the_guard_keeps_unchanged_sheets_and_a_playing_page_recalculates_styles_a_few_times_per_frame(
        watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    assert page.evaluate("() => window.__ebmStyleGuard") is True
    kept, changed, text = page.evaluate("""() => {
      const sheet = new (Bokeh.require("core/dom").InlineStyleSheet)(":host { left: 1px; }");
      const node = sheet.el.firstChild;
      sheet.replace(":host { left: 1px; }");
      const kept = sheet.el.firstChild === node;
      sheet.replace(":host { left: 2px; }");
      return [kept, sheet.el.firstChild !== node, sheet.el.textContent];
    }""")
    assert kept, "an identical rewrite replaced the stylesheet's text"
    assert changed and text == ":host { left: 2px; }", "a different rewrite was not applied"

    go_to(page, "Samplers")
    page.evaluate(COUNT_FRAMES_JS)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def recalcs() -> float:
        metrics = cdp.send("Performance.getMetrics")["metrics"]
        return next(m["value"] for m in metrics if m["name"] == "RecalcStyleCount")

    page.get_by_role("button", name="Play").first.click()
    expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=20000)
    page.wait_for_timeout(1000)
    frames0, styles0 = page.evaluate("() => window.__frames.n"), recalcs()
    page.wait_for_timeout(3000)
    frames, styles = page.evaluate("() => window.__frames.n") - frames0, recalcs() - styles0
    pause(page)
    assert frames >= 5, f"only {frames} frames in 3 s"
    # Without the guard every axis, title and legend paint forced one (about 20 per frame here).
    assert styles / frames < 10, f"{styles:.0f} style recalculations for {frames} frames"


# run the guard's code again on a BokehJS whose InlineStyleSheet._update no longer has the expected shape
CHANGED_UPSTREAM_JS = """(code) => {
  const sheet = Bokeh.require("core/dom").InlineStyleSheet.prototype;
  const props = Bokeh.require("core/visuals/visual").VisualProperties.prototype;
  const saved = [sheet._update, props._get_css_value, window.__ebmStyleGuard];
  const changed = function (css) { this.el.replaceChildren(css); };
  sheet._update = changed;
  delete window.__ebmStyleGuard;
  new Function(code)();
  const outcome = [window.__ebmStyleGuard, sheet._update === changed, props._get_css_value === saved[1]];
  [sheet._update, props._get_css_value, window.__ebmStyleGuard] = saved;
  return outcome;
}"""


def test_the_guard_leaves_a_bokehjs_it_was_not_written_for_alone_and_says_nothing(watched_page, lab_url):
    page = watched_page
    open_lab(page, lab_url)
    said = []
    page.on("console", lambda message: said.append(f"{message.type}: {message.text}"))
    state, update_kept, css_reads_kept = page.evaluate(CHANGED_UPSTREAM_JS, GUARD_JS)
    assert state == "skipped"
    assert update_kept and css_reads_kept, "the guard patched a BokehJS of another shape"
    assert said == []
