"""Each workaround is checked against what it was written for: the installed versions are in its range,
the upstream code it patches is unchanged, and outside its range it installs nothing and says so once."""
from __future__ import annotations

import logging

import pytest
from bokeh.document import Document
from bokeh.server.views.ws import WSHandler
from panel.reactive import Syncable

from app.workarounds import style_rewrite_guard, upstream, websocket_nodelay, widget_debounce
from app.workarounds.upstream import WrittenAgainst
from tests.app.workarounds.upstream_source import BOKEHJS, bokehjs_method, fingerprint, source_of

WORKAROUNDS = {
    "style_rewrite_guard": (style_rewrite_guard.WRITTEN_AGAINST,),
    "websocket_nodelay": websocket_nodelay.WRITTEN_AGAINST,
    "widget_debounce": (widget_debounce.WRITTEN_AGAINST,),
}
REQUIREMENTS = [(name, r) for name, rs in WORKAROUNDS.items() for r in rs]
SOURCES = [(name, r, function) for name, r in REQUIREMENTS for function in r.sources]


@pytest.mark.parametrize(("workaround", "requirement"), REQUIREMENTS,
                         ids=[f"{n}-{r.package}" for n, r in REQUIREMENTS])
def test_the_installed_version_is_one_the_workaround_was_written_for(workaround, requirement):
    assert requirement.fits(), (
        f"{workaround}: {requirement.package} {requirement.installed()} is outside {requirement}; the "
        f"workaround is not installed. Check it against this version (app/workarounds/{workaround}.py), "
        f"then widen the range, or remove the workaround if upstream no longer needs it")


@pytest.mark.parametrize(("workaround", "requirement", "function"), SOURCES,
                         ids=[f"{n}-{f.rsplit(':', 1)[-1]}" for n, _, f in SOURCES])
def test_the_upstream_code_the_workaround_patches_is_unchanged(workaround, requirement, function):
    source = source_of(function)
    assert fingerprint(source) == requirement.sources[function], (
        f"{workaround}: {function} changed since {requirement.package} {requirement.checked} (now "
        f"{requirement.package} {requirement.installed()}, fingerprint {fingerprint(source)}). Check "
        f"app/workarounds/{workaround}.py against it, then record the new fingerprint and version. "
        f"Its source now:\n{source}")


def test_a_changed_function_has_another_fingerprint(tmp_path):
    """What the check above relies on: an edit inside a method changes its fingerprint, re-indenting does not."""
    bundle = tmp_path / "bokeh.js"
    text = BOKEHJS.read_text()
    bundle.write_text(text)
    name = ("core/dom.js", "InlineStyleSheet._update")
    original = fingerprint(bokehjs_method(*name, bundle=bundle))
    assert original == style_rewrite_guard.WRITTEN_AGAINST.sources["bokeh.js:core/dom.js:InlineStyleSheet._update"]
    old = "        _update(css) {\n            this.el.textContent = css;\n        }"
    assert text.count(old) == 1
    bundle.write_text(text.replace(old, old.replace("            this", "  this")))
    assert fingerprint(bokehjs_method(*name, bundle=bundle)) == original
    bundle.write_text(text.replace(old, old.replace("= css;", "= css.trim();")))
    assert fingerprint(bokehjs_method(*name, bundle=bundle)) != original


@pytest.fixture
def out_of_range(monkeypatch, caplog):
    """Every workaround written for versions that are not installed; the warnings they log."""
    monkeypatch.setattr(upstream, "_warned", set())
    for module, attr in ((style_rewrite_guard, "WRITTEN_AGAINST"), (widget_debounce, "WRITTEN_AGAINST")):
        written = getattr(module, attr)
        monkeypatch.setattr(module, attr, WrittenAgainst(written.package, "0.1", "0.2"))
    monkeypatch.setattr(websocket_nodelay, "WRITTEN_AGAINST",
                        tuple(WrittenAgainst(r.package, "0.1", "0.2") for r in websocket_nodelay.WRITTEN_AGAINST))
    caplog.set_level(logging.WARNING, logger=upstream.__name__)
    return caplog


def test_outside_its_versions_a_workaround_installs_nothing_and_warns_once(out_of_range, monkeypatch):
    monkeypatch.setattr(Syncable, "_debounce", 50)
    monkeypatch.setattr(WSHandler, "open", getattr(WSHandler.open, "__wrapped__", WSHandler.open))
    bokeh_open = WSHandler.open
    doc = Document()
    for _ in range(2):
        widget_debounce.answer_widgets_at_once()
        websocket_nodelay.send_websocket_frames_at_once()
        style_rewrite_guard.install_style_rewrite_guard(doc)
    assert Syncable._debounce == 50
    assert WSHandler.open is bokeh_open
    assert not doc.callbacks.js_event_callbacks
    lines = [record.getMessage() for record in out_of_range.records]
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert any("style_rewrite_guard" in line and "bokeh" in line and "0.1 <= bokeh < 0.2" in line for line in lines)


def test_within_its_versions_the_style_guard_is_sent_to_the_browser():
    doc = Document()
    style_rewrite_guard.install_style_rewrite_guard(doc)
    [callback] = doc.callbacks.js_event_callbacks["document_ready"]
    assert callback.code == style_rewrite_guard.GUARD_JS
