"""Downloads of a page's latest snapshot: arrays as .npz and CSV, and recent chain motion as an animated GIF."""
from __future__ import annotations

import io
import re

import panel as pn

from ebm_engine.runtime.exports import ChainFrames, chain_gif, csv_text, export_arrays, npz_bytes


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class ExportPanel:
    """A card of download buttons built from ``page.last_snapshot`` when clicked (``EXPORTS`` / ``GIF_KEYS``)."""

    def __init__(self, page):
        self.page = page
        self.frames = ChainFrames() if page.GIF_KEYS else None
        name = f"ebm-lab-{slug(page.TITLE)}"

        def download(callback, suffix: str, label: str) -> pn.widgets.FileDownload:
            return pn.widgets.FileDownload(callback=callback, filename=name + suffix, label=label, color="default",
                                           variant="outline", sizing_mode="stretch_width")

        buttons: list[pn.widgets.FileDownload] = []
        if page.EXPORTS:
            buttons += [download(self.npz, ".npz", "Download arrays (.npz)"),
                        download(self.csv, ".csv", "Download arrays (CSV)")]
        if self.frames is not None:
            buttons.append(download(self.gif, "-chains.gif", "Download chain motion (GIF)"))
            page.session.listeners.append(self._record)
        names = ", ".join(page.EXPORTS) or "none"
        note = pn.pane.Markdown(f"Arrays: {names}. Each plot saves itself as PNG from its toolbar.",
                                styles={"opacity": "0.7"}, margin=(0, 5))
        self.view = pn.Card(*buttons, note, title="Export", collapsed=True, sizing_mode="stretch_width")

    def npz(self) -> io.BytesIO | None:
        arrays = export_arrays(self.page.last_snapshot or {}, self.page.EXPORTS)
        return io.BytesIO(npz_bytes(arrays)) if arrays else None

    def csv(self) -> io.StringIO | None:
        arrays = export_arrays(self.page.last_snapshot or {}, self.page.EXPORTS)
        return io.StringIO(csv_text(arrays)) if arrays else None

    def gif(self) -> io.BytesIO | None:
        if self.frames is None or not self.frames.frames or self.frames.surface is None:
            return None
        return io.BytesIO(chain_gif(self.frames.positions(), self.frames.surface, self.frames.bounds))

    def _record(self, job_id: str, snapshot: dict) -> None:
        """Session listener: keep the positions of every snapshot of this page's job."""
        positions_key, surface_key = self.page.GIF_KEYS
        if job_id == self.page.job_id and positions_key in snapshot:
            self.frames.record(snapshot[positions_key], snapshot.get(surface_key), snapshot.get("bounds"))
