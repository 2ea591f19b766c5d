"""The lab's pages inside a Jupyter notebook: one call gives a page's controls, plots and live updates.

    import panel as pn
    from app.notebook import lab_page
    pn.extension("mathjax")
    lab = lab_page("Samplers")      # an engine process of its own; lab_page("Samplers", inline=True) runs in the kernel
    lab.layout                      # display it; press Play
    lab.stop()                      # stop the engine when done
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import panel as pn

import app.pages  # noqa: F401  (registers the pages)
from app.widgets.export_panel import ExportPanel
from app.registry import PAGES
from app.session import LabSession
from app.teaching import teaching_card

DRAIN_PERIOD_MS = 50


@dataclass
class NotebookPage:
    """A page wired for a notebook: its layout, its session and the periodic drain of its snapshots."""

    page: Any
    session: LabSession
    layout: pn.layout.Panel
    drain: Any = None

    def stop(self) -> None:
        """Stop the periodic drain and the engine."""
        if self.drain is not None:
            self.drain.stop()
        self.session.stop()

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.layout._repr_mimebundle_(include, exclude)


def lab_page(name: str, inline: bool = False, start: bool = True, session: LabSession | None = None,
             **values: Any) -> NotebookPage:
    """Build the page ``name`` (e.g. "Samplers") with its own session, ready to display.

    ``inline=True`` runs the job in the kernel (no extra process); ``values`` set the page's
    parameters (``lab_page("Samplers", sampler="hmc", step_size=0.3)``). ``start=False`` leaves the
    snapshot drain stopped (call ``.drain.start()``); ``session`` replaces the page's own session.
    """
    entry = next((p for p in PAGES if p.name == name), None)
    if entry is None:
        raise ValueError(f"no page named {name!r}; pages: {', '.join(p.name for p in PAGES)}")
    session = session or LabSession(inline=inline)
    page = entry.factory(session, **values)
    layout = pn.Row(pn.Column(page.controls, ExportPanel(page).view, width=330),
                    pn.Column(page.view, teaching_card(name), sizing_mode="stretch_width"),
                    sizing_mode="stretch_width")
    drain = pn.state.add_periodic_callback(session.drain, period=DRAIN_PERIOD_MS, start=start)
    return NotebookPage(page, session, layout, drain)
