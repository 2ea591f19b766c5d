"""Demos and talks without a browser: exports from snapshots, focus, presentation mode, teaching cards, notebook."""
import csv

import numpy as np
import panel as pn
import pytest
from bokeh.models import SaveTool
from PIL import Image

import app.pages  # noqa: F401  (registers the pages)
from app.widgets.export_panel import ExportPanel
from app.url_state import parse_query
from app.widgets.focus import ALL_PLOTS, FOCUS_SCALE, FocusControl, figure_panes
from app.notebook import lab_page
from app.registry import PAGES
from app.session import LabSession
from app.shell import LabShell
from app.teaching import teaching_card, teaching_html
from tests.app.stub_session import StubSession

PAGE_NAMES = [p.name for p in PAGES]


def inline_page(name, **values):
    session = LabSession(inline=True)
    page = next(p for p in PAGES if p.name == name).factory(session, **values)
    session.drain()
    return page


@pytest.mark.parametrize("name", ["Samplers", "Constraints"])
def test_npz_and_csv_downloads_match_the_last_snapshot(name):
    page = inline_page(name)
    exports = ExportPanel(page)
    page.step_button.clicks += 1
    page.session.drain()
    snapshot = page.last_snapshot
    loaded = np.load(exports.npz())
    assert sorted(loaded.files) == sorted(page.EXPORTS)
    for file_name, key in page.EXPORTS.items():
        np.testing.assert_array_equal(loaded[file_name], np.asarray(snapshot[key]))
    rows = list(csv.reader(exports.csv()))
    first_name, first_key = next(iter(page.EXPORTS.items()))
    first = np.asarray(snapshot[first_key], dtype=np.float64)
    table = [r for r in rows[1:] if r[0] == first_name]
    assert len(table) == len(first)
    width = first.reshape(len(first), -1).shape[1]
    np.testing.assert_allclose([[float(v) for v in r[2:2 + width]] for r in table], first.reshape(len(first), -1))


def test_exports_answer_nothing_before_the_first_snapshot():
    page = next(p for p in PAGES if p.name == "Samplers").factory(StubSession())
    exports = ExportPanel(page)
    assert exports.npz() is None and exports.csv() is None and exports.gif() is None


def test_samplers_gif_shows_the_recorded_chain_motion():
    page = inline_page("Samplers", n_chains=8, speed=2000.0)
    exports = ExportPanel(page)
    page.play_button.clicks += 1
    for _ in range(6):
        page.session.drain()
    recorded = len(exports.frames.frames)
    assert recorded >= 3
    gif = Image.open(exports.gif())
    assert gif.n_frames == recorded and gif.size == (320, 320)
    gif.seek(0)
    first = np.asarray(gif.convert("RGB"), dtype=np.int16)
    gif.seek(recorded - 1)
    assert np.abs(np.asarray(gif.convert("RGB"), dtype=np.int16) - first).sum() > 0


def test_focus_shows_one_plot_alone_and_larger_then_everything_again():
    page = next(p for p in PAGES if p.name == "Samplers").factory(StubSession())
    focus = FocusControl(page.view)
    assert len(focus.panes) >= 4 and focus.select.value == ALL_PLOTS
    label, chosen = list(focus.panes.items())[1]
    width = chosen.object.width
    assert focus.choose(label) and focus.chosen == label
    assert chosen.object.visible and chosen.object.width == int(width * FOCUS_SCALE)
    assert not any(p.object.visible for p in focus.panes.values() if p is not chosen)
    assert not page.table.pane.visible
    assert page.alert.visible is False or page.alert in page.view.select(pn.pane.Alert)
    assert not focus.choose("no such plot")
    focus.choose(ALL_PLOTS)
    assert all(p.object.visible for p in focus.panes.values()) and page.table.pane.visible
    assert chosen.object.width == width


def test_presentation_mode_hides_secondary_controls_and_every_plot_keeps_a_save_tool():
    presenting = LabShell(StubSession(), query={"present": "1"})
    normal = LabShell(StubSession(), query={"page": "RBM"})
    assert presenting.theme == "dark" and presenting.present_switch.value and not normal.present_switch.value
    assert any("--bokeh-font-size" in css for css in presenting.template.config.raw_css)
    assert not any("--bokeh-font-size" in css for css in normal.template.config.raw_css)
    assert all(section.visible for section in normal.current.secondary_sections)
    for name in PAGE_NAMES:
        presenting.nav.value = name
        hidden = presenting.current.secondary_sections
        assert hidden, f"{name} marks no secondary controls"
        assert not any(section.visible for section in hidden)
        presenting.current.present(False)
        assert all(section.visible for section in hidden)
        presenting.current.present(True)
        for pane in figure_panes(presenting.current.view):
            figure = pane.object
            if figure.name == "jem-canvas":          # the drawing pad is an input, not a plot
                continue
            assert any(isinstance(t, SaveTool) for t in figure.tools), (name, figure.name)
            assert figure.toolbar_location is not None, (name, figure.name)
    assert presenting.url_query()["present"] == "1"
    race = presenting.page("Samplers").race
    assert race.secondary_sections and not race.secondary_sections[0].visible


def test_focus_choice_travels_in_the_link():
    shell = LabShell(StubSession(), query={"page": "Samplers"})
    focus = shell.page_extras("Samplers")["focus"]
    label = list(focus.panes)[0]
    focus.choose(label)
    assert shell.url_query()["focus"] == label
    again = LabShell(StubSession(), query=shell.url_query())
    assert again.page_extras("Samplers")["focus"].chosen == label
    wrong = LabShell(StubSession(), query={"page": "Samplers", "focus": "nothing like it"})
    assert "focus = " in wrong.link_problems_text() and wrong.link_notice.visible


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_has_a_collapsed_how_it_works_card_with_math_and_papers(name):
    text = teaching_html(name)
    assert "$$" in text and "\\(" in text            # display and inline math for MathJax
    assert "$" not in text.replace("$$", "")         # no stray inline dollar left unconverted
    assert "<strong>Papers.</strong>" in text and any(str(y) in text for y in range(1990, 2026))
    assert "<strong>Knobs.</strong>" in text
    card = teaching_card(name)
    assert card.collapsed and card.title == "How it works"
    assert card.objects[0].renderer == "mathjax"


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_renders_for_a_notebook(name):
    lab = lab_page(name, session=StubSession(), start=False)
    root = lab.layout.get_root()
    assert root.ref["id"] and lab.page.controls in lab.layout.select(pn.Column)[0].objects
    assert len(figure_panes(lab.layout)) >= 1


def test_notebook_page_drains_its_inline_engine():
    lab = lab_page("Samplers", inline=True, start=False, speed=2000.0)
    try:
        assert lab.drain is not None and not lab.drain.running
        lab.page.play_button.clicks += 1
        for _ in range(3):
            lab.drain.callback()
        assert lab.page.step_count > 0 and lab.page.state == "playing"
    finally:
        lab.stop()


class FakeLocation:
    search, reload = "", False


def test_switches_reload_with_the_scene_kept_and_sliders_rewrite_the_address():
    location = FakeLocation()
    shell = LabShell(StubSession(), query={"page": "Samplers", "sampler": "hmc"}, location=location)
    assert location.search == "?page=Samplers&sampler=hmc"
    shell.current.step_size = 0.25
    assert location.search == "?page=Samplers&sampler=hmc&step_size=0.25" and not location.reload
    shell.theme_switch.value = True
    scene = {"page": "Samplers", "sampler": "hmc", "step_size": "0.25"}
    assert location.reload and parse_query(location.search) == {**scene, "theme": "dark"}
    shell.present_switch.value = True
    assert parse_query(location.search) == {**scene, "present": "1"}
    shell.nav.value = "RBM"
    assert location.search.startswith("?page=RBM") and "sampler" not in location.search
