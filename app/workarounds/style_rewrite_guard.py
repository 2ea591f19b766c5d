"""BokehJS repaints without a style recalculation per annotation.

Upstream: BokehJS 3.5-3.9 (``bokeh/server/static/js/bokeh.js``).
- ``RendererView.update_position`` (``models/renderers/renderer.js``) rewrites the ``<style>`` element
  that positions each axis, title and legend at every paint, through ``InlineStyleSheet.replace`` and
  ``InlineStyleSheet._update`` (``core/dom.js``), even when the CSS text is the same.
- ``VisualProperties._get_css_value`` (``core/visuals/visual.js``) then reads each visual's CSS
  override (a ``--bk-*`` custom property) with ``getComputedStyle``, once per property per paint.
Every rewrite invalidates the page's styles, so every read that follows recomputes them: a playing
page paid one style recalculation per axis, title and legend at every frame.

The guard, installed in the browser when the document is ready, skips a rewrite whose text equals
the current one (the same stylesheet, nothing to invalidate) and keeps each CSS override until the
browser task ends (within one task the answer cannot change). Both patched methods are ``protected``
in BokehJS and no setting or public call turns either behaviour off. Bokeh merged a per-task cache of
``_get_css_value`` (bokeh/bokeh#15205, for the release after 3.9); bokeh/bokeh#15286 is the open issue
on its CSS reads.

No longer needed when BokehJS skips an unchanged stylesheet text and caches ``_get_css_value``:
``tests/ui/test_style_guard_ui.py`` counts style recalculations per frame, and
``tests/app/workarounds/test_written_against.py`` fails when one of the functions above changes.
The guard is installed only for the Bokeh versions below; in the browser it also checks that the
patched methods still have the shape it expects, and otherwise leaves BokehJS alone without a word
(``window.__ebmStyleGuard`` is then ``"skipped"``).
"""
from __future__ import annotations

from bokeh.models import CustomJS

from app.workarounds.upstream import WrittenAgainst, applies

WRITTEN_AGAINST = WrittenAgainst("bokeh", "3.5", "3.10", "3.9.2", {
    "bokeh.js:core/dom.js:InlineStyleSheet._update": "90efb08dd2cd",
    "bokeh.js:core/dom.js:InlineStyleSheet.replace": "0120bef7085d",
    "bokeh.js:core/visuals/visual.js:VisualProperties._get_css_value": "6c17ef673f93",
    "bokeh.js:models/renderers/renderer.js:RendererView.update_position": "044bba6cf32e",
})

GUARD_JS = """
if (!window.__ebmStyleGuard) {
  let dom = null, visual = null;
  try {
    dom = Bokeh.require("core/dom");
    visual = Bokeh.require("core/visuals/visual");
  } catch (_error) {}
  const sheet = dom?.InlineStyleSheet?.prototype;
  const props = visual?.VisualProperties?.prototype;
  // the shape the guard was written for: one argument, the same work (see WRITTEN_AGAINST)
  const shaped = (f, ...parts) => typeof f === "function" && f.length === 1 &&
    parts.every((part) => part.test(String(f)));
  if (!shaped(sheet?._update, /textContent\\s*=/) ||
      !shaped(props?._get_css_value, /getComputedStyle/, /css_prefix/)) {
    window.__ebmStyleGuard = "skipped";
  } else {
    const rewrite = sheet._update;
    sheet._update = function (css) {
      if (this.el.textContent !== css) rewrite.call(this, css);
    };
    let task_cache = null;   // element -> (custom property -> value), for the current browser task
    props._get_css_value = function (name) {
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
}
"""


def install_style_rewrite_guard(doc) -> None:
    """Patch BokehJS in the browser of ``doc`` once its document is ready (idempotent per page), where
    the installed Bokeh is one the guard was written for."""
    if applies("style_rewrite_guard", WRITTEN_AGAINST):
        doc.js_on_event("document_ready", CustomJS(code=GUARD_JS))
