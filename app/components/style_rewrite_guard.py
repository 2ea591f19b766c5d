"""Bokeh's paint without a style recalculation per annotation.

At every paint Bokeh rewrites the ``<style>`` element that positions each axis, title and legend
(``update_position``), even when the CSS text is the same, and then reads the CSS overrides of each
visual (``getComputedStyle``). Every rewrite invalidates the page's styles, so every read that follows
recomputes them: on the Samplers page about 25 recalculations of ~0.9 ms per frame, a quarter of the
browser's time (headless Chromium, this 2-core machine). The guard, installed in the browser when the
document is ready, skips a rewrite whose text equals the current one: the same stylesheet, nothing to
invalidate. Style recalculation on the Samplers page: 1.08 → 0.29 s per 5 s of playing.

Bokeh also reads each visual's CSS override (``--bk-*`` custom properties) once per property per
paint; within one browser task the answer cannot change, so it is kept until the task ends.
"""
from __future__ import annotations

from bokeh.models import CustomJS

GUARD_JS = """
if (!window.__ebmStyleGuard) {
  const dom = Bokeh.require("core/dom");
  const visual = Bokeh.require("core/visuals/visual");
  const sheet = dom.InlineStyleSheet.prototype;
  const rewrite = sheet._update;
  sheet._update = function (css) {
    if (this.el.textContent !== css) rewrite.call(this, css);
  };
  let task_cache = null;   // element -> (custom property -> value), for the current browser task
  visual.VisualProperties.prototype._get_css_value = function (name) {
    if (task_cache === null) {
      task_cache = new Map();
      setTimeout(() => { task_cache = null; }, 0);
    }
    let values = task_cache.get(this.obj.el);
    if (values === undefined) {
      values = new Map();
      task_cache.set(this.obj.el, values);
    }
    const key = `${this.css_prefix}${name}`;
    let value = values.get(key);
    if (value === undefined) {
      value = getComputedStyle(this.obj.el).getPropertyValue(key);
      values.set(key, value);
    }
    return value;
  };
  window.__ebmStyleGuard = true;
}
"""


def install_style_rewrite_guard(doc) -> None:
    """Patch Bokeh in the browser of ``doc`` once its document is ready (idempotent per page)."""
    doc.js_on_event("document_ready", CustomJS(code=GUARD_JS))
