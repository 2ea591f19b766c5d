"""The lab's shell: an offline template with sidebar navigation, page controls, status bar and theme."""
from __future__ import annotations

from pathlib import Path

import panel as pn

from app.components.status_bar import StatusBar
from app.registry import PAGES
from app.session import LabSession

ASSETS = Path(__file__).resolve().parent.parent / "assets"


class LabShell:
    """Builds the template for one browser session and swaps pages on navigation."""

    def __init__(self, session: LabSession, theme: str = "default", initial_page: str | None = None):
        if not PAGES:
            raise RuntimeError("no pages are registered")
        self.session = session
        self.pages: dict = {}
        self.status_bar = StatusBar()
        names = [p.name for p in PAGES]
        self.nav = pn.widgets.RadioButtonGroup(
            options=names, value=initial_page if initial_page in names else names[0],
            orientation="vertical", color="primary", variant="outline",
            sizing_mode="stretch_width")
        self.page_controls = pn.Column(sizing_mode="stretch_width")
        self.page_view = pn.Column(sizing_mode="stretch_width")
        self.theme_switch = pn.widgets.Switch(value=theme == "dark", width=40, margin=(14, 4))
        self.theme_switch.param.watch(self._switch_theme, "value")
        self.nav.param.watch(lambda e: self.show(e.new), "value")
        self.show(self.nav.value)
        self.template = pn.template.BootstrapTemplate(
            title="EBM Lab", theme=theme, sidebar_width=330,
            sidebar=[self.nav, pn.layout.Divider(), self.page_controls],
            main=[self.page_view, self.status_bar.pane],
            header=[pn.Row(pn.pane.HTML("<span style='color:white'>Dark theme</span>", margin=(12, 4)),
                           self.theme_switch, margin=(8, 0))],
            busy_indicator=None,
            logo=str(ASSETS / "logo.svg"), favicon=str(ASSETS / "logo.svg"))

    def page(self, name: str):
        """The page named ``name``, built on first visit."""
        if name not in self.pages:
            entry = next(p for p in PAGES if p.name == name)
            self.pages[name] = entry.factory(self.session, on_status=self._status_changed)
        return self.pages[name]

    def show(self, name: str) -> None:
        page = self.page(name)
        self.page_controls.objects = [page.controls]
        self.page_view.objects = [page.view]
        self._status_changed(page)

    def _status_changed(self, page) -> None:
        if page.TITLE == self.nav.value:
            self.status_bar.update(page.TITLE, page.state, page.device, page.steps_per_sec, page.step_count,
                                   (page.last_snapshot or {}).get("knobs"))

    def _switch_theme(self, event) -> None:
        """Templates fix their theme at load: reload the page with the other theme."""
        theme = "dark" if event.new else "default"
        pn.state.location.reload = True
        pn.state.location.search = f"?theme={theme}&page={self.nav.value}"
