"""The lab's shell: an offline template with sidebar navigation, page controls, status bar and theme.

The shell also keeps the browser's address in step with the lab: the current page and its settings
are written to the query string as they change, and a link's values are restored on load.
"""
from __future__ import annotations

from typing import Mapping

import panel as pn

from app import url_state
from app.widgets.export_panel import ExportPanel
from app.widgets.focus import FocusControl
from app.widgets.status_bar import StatusBar
from app.registry import PAGES
from app.session import LabSession
from app.teaching import teaching_card
from ebm_engine.assets import assets_folder

ASSETS = assets_folder()
PRESENT_CLASS = "ebm-present"
PRESENT_SCALE = 1.25


class LabShell:
    """Builds the template for one browser session and swaps pages on navigation."""

    def __init__(self, session: LabSession, theme: str = "default", initial_page: str | None = None,
                 query: Mapping[str, str] | None = None, location=None):
        self.session = session
        self.location = location
        self.query = dict(query or {})
        self.presenting = self.query.get(url_state.PRESENT_KEY, "") in url_state.TRUE_WORDS
        self.theme = theme = "dark" if self.presenting or self.query.get(url_state.THEME_KEY) == "dark" else theme
        self.pages: dict = {}
        self.extras: dict = {}
        self.link_problems: list[str] = []
        self.status_bar = StatusBar()
        names = [p.name for p in PAGES]
        initial_page = self.query.get(url_state.PAGE_KEY, initial_page)
        if initial_page is not None and initial_page not in names:
            self.link_problems.append(f"page = {url_state.shorten(initial_page)} (no such page)")
        self.link_page = initial_page if initial_page in names else names[0]
        self.nav = pn.widgets.RadioButtonGroup(
            options=names, value=self.link_page, orientation="vertical", color="primary", variant="outline",
            sizing_mode="stretch_width")
        self.link_notice = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width",
                                         name="link-notice")
        self.focus_slot = pn.Column(sizing_mode="stretch_width")
        self.page_controls = pn.Column(sizing_mode="stretch_width")
        self.page_view = pn.Column(sizing_mode="stretch_width")
        self.theme_switch = pn.widgets.Switch(value=theme == "dark", width=40, margin=(14, 4))
        self.theme_switch.param.watch(self._switch_theme, "value")
        self.present_switch = pn.widgets.Switch(value=self.presenting, width=40, margin=(14, 4))
        self.present_switch.param.watch(self._switch_presentation, "value")
        self.nav.param.watch(lambda e: self.show(e.new), "value")
        self.show(self.nav.value)
        label = "<span style='color:white'>{}</span>"
        self.template = pn.template.BootstrapTemplate(
            title="EBM Lab", theme=theme, sidebar_width=330,
            sidebar=[self.nav, pn.layout.Divider(), self.focus_slot, self.page_controls],
            main=[self.link_notice, self.page_view, self.status_bar.pane],
            header=[pn.Row(pn.pane.HTML(label.format("Dark theme"), margin=(12, 4)), self.theme_switch,
                           pn.pane.HTML(label.format("Present"), margin=(12, 4)), self.present_switch,
                           margin=(8, 0))],
            busy_indicator=None,
            logo=str(ASSETS / "logo.svg"), favicon=str(ASSETS / "logo.svg"))
        if self.presenting:
            if pn.state.curdoc is not None:
                # this session's widgets take the dark theme too: Panel sets it from a ?theme=dark link
                # only, and pages opened later would otherwise get dark text on the dark template
                pn.config.theme = "dark"
            self.template.config.raw_css.append((ASSETS / "present.css").read_text())
            self.template.main.append(pn.pane.HTML(f"<div class='{PRESENT_CLASS}'></div>", visible=False,
                                                   name="present-marker"))
        self._show_link_problems()
        self.write_url()

    # --- pages ---------------------------------------------------------------------------
    def page(self, name: str):
        """The page named ``name``, built on first visit (from the link's values when it is the linked page)."""
        if name not in self.pages:
            entry = next(p for p in PAGES if p.name == name)
            values = {}
            if name == self.link_page:
                values, problems = url_state.decode(entry.factory, self.query)
                self.link_problems += problems
            page = entry.factory(self.session, on_status=self._status_changed, **values)
            if name == self.link_page:
                self._restore_sections(page)
            self.pages[name] = page
            self._watch_for_url(page)
        return self.pages[name]

    def _restore_sections(self, page) -> None:
        known = [*url_state.shareable_names(page)]
        for prefix, section in page.url_sections().items():
            values, problems = url_state.decode(section, self.query, prefix)
            self.link_problems += problems
            if values:
                section.param.update(**values)
            known += [prefix + n for n in url_state.shareable_names(section)]
        self.link_problems += url_state.unknown_keys(self.query, known)

    def page_extras(self, name: str) -> dict:
        """The shell's additions to a page: focus control, exports and the "How it works" card."""
        if name not in self.extras:
            page = self.page(name)
            scale = PRESENT_SCALE if self.presenting else 1.0
            self.extras[name] = {"focus": FocusControl(page.view, scale), "exports": ExportPanel(page),
                                 "teaching": teaching_card(name)}
            chosen = self.query.get(url_state.FOCUS_KEY) if name == self.link_page else None
            if chosen and not self.extras[name]["focus"].choose(chosen):
                self.link_problems.append(f"focus = {url_state.shorten(chosen)} (no such plot)")
            self.extras[name]["focus"].select.param.watch(lambda _e: self.write_url(), "value")
        return self.extras[name]

    def show(self, name: str) -> None:
        page = self.page(name)
        extras = self.page_extras(name)
        self.focus_slot.objects = [extras["focus"].select]
        self.page_controls.objects = [page.controls, extras["exports"].view]
        self.page_view.objects = [page.checkpoints.view, page.view, extras["teaching"]]
        page.present(self.presenting)
        self.session.show(page.job_ids())     # the page in view runs first; hidden ones may pause
        self._status_changed(page)
        self.write_url()

    def _status_changed(self, page) -> None:
        if page.TITLE == self.nav.value:
            self.status_bar.update(page.TITLE, page.state, page.device, page.steps_per_sec, page.step_count,
                                   (page.last_snapshot or {}).get("knobs"), page.started_from, page.sampler_path)

    # --- the address ---------------------------------------------------------------------
    def _watch_for_url(self, page) -> None:
        for owner in (page, *page.url_sections().values()):
            names = list(url_state.shareable_names(owner))
            if names:
                owner.param.watch(lambda *_events, page=page: self._page_changed(page), names)

    def _page_changed(self, page) -> None:
        if page is self.current:
            self.write_url()

    @property
    def current(self):
        return self.pages.get(self.nav.value)

    def url_query(self, **overrides: str) -> dict[str, str]:
        """The query that restores this scene: page, theme, presentation, focus and the page's values."""
        query = {url_state.PAGE_KEY: self.nav.value}
        if self.presenting:
            query[url_state.PRESENT_KEY] = "1"
        elif self.theme == "dark":
            query[url_state.THEME_KEY] = "dark"
        page = self.current
        if page is not None:
            focus = self.extras.get(self.nav.value, {}).get("focus")
            if focus is not None and focus.chosen:
                query[url_state.FOCUS_KEY] = focus.chosen
            query.update(url_state.encode(page))
            for prefix, section in page.url_sections().items():
                query.update(url_state.encode(section, prefix))
        query.update(overrides)
        return {k: v for k, v in query.items() if v}

    def write_url(self) -> None:
        """Put the current scene in the browser's address (without reloading)."""
        if self.location is not None and hasattr(self, "template"):
            search = url_state.query_string(self.url_query())
            if self.location.search != search:
                self.location.search = search

    def _reload_with(self, **overrides: str) -> None:
        if self.location is not None:
            self.location.reload = True
            self.location.search = url_state.query_string(self.url_query(**overrides))

    def link_problems_text(self) -> str:
        return "; ".join(self.link_problems)

    def _show_link_problems(self) -> None:
        if self.link_problems:
            items = ", ".join(url_state.inert_markdown(p) for p in self.link_problems[:8])
            more = f" and {len(self.link_problems) - 8} more" if len(self.link_problems) > 8 else ""
            self.link_notice.param.update(object=f"Ignored link values: {items}{more}.", visible=True)

    def _switch_theme(self, event) -> None:
        """Templates fix their theme at load: reload the page with the other theme, keeping the scene."""
        self._reload_with(theme="dark" if event.new else "", present="")

    def _switch_presentation(self, event) -> None:
        """Presentation mode changes the theme and the page's CSS: reload with the flag, keeping the scene."""
        self._reload_with(present="1" if event.new else "", theme="")
