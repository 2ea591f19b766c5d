"""Checkpoint controls of a page: start from the pretrained model, load a saved one, save the current one.

The panel only sends the job's checkpoint actions and shows what the job reports back in
``snapshot["checkpoint"]``: the result message and the compatible checkpoints it found.
"""
from __future__ import annotations

from typing import Any, Callable

import panel as pn

BUTTON_MARGIN = (27, 5, 5, 5)   # level with the boxes of the labelled select and text field


class CheckpointPanel:
    """Buttons, a select of compatible checkpoints, a name field and the last result."""

    def __init__(self, act: Callable[..., None], available: bool = True):
        self.act = act
        self.pretrained_button = pn.widgets.Button(label="Start from pretrained", color="success",
                                                   variant="solid", min_width=190, margin=BUTTON_MARGIN)
        self.select = pn.widgets.Select(label="Checkpoint", options={}, min_width=220, sizing_mode="stretch_width")
        self.load_button = pn.widgets.Button(label="Load", color="primary", variant="outline", width=80,
                                            margin=BUTTON_MARGIN)
        self.name_input = pn.widgets.TextInput(label="Save as", placeholder="my-model", min_width=140,
                                               sizing_mode="stretch_width")
        self.save_button = pn.widgets.Button(label="Save", color="primary", variant="outline", width=80,
                                            margin=BUTTON_MARGIN)
        self.scratch_button = pn.widgets.Button(label="Start from scratch", color="warning", variant="outline",
                                                min_width=150, margin=(0, 10, 5, 10), visible=False)
        self.message = pn.pane.Markdown("", name="checkpoint-message", sizing_mode="stretch_width",
                                        margin=(0, 10))
        # how the page starts over (its Reset, which also pauses the job); without one, the job's action
        self.restart: Callable[[], None] | None = None
        self.pretrained_button.on_click(lambda _e: self.act("load_pretrained"))
        self.load_button.on_click(lambda _e: self.load())
        self.save_button.on_click(lambda _e: self.act(
            "save_checkpoint", checkpoint=self.name_input.value or self.name_input.value_input or ""))
        self.scratch_button.on_click(lambda _e: self.start_from_scratch())
        self._options_key: tuple | None = None
        # one compact row above the page's plots (hidden on pages whose job has no model to save)
        self.view = pn.Column(
            pn.Row(self.pretrained_button, self.select, self.load_button, self.name_input, self.save_button,
                   sizing_mode="stretch_width"),
            pn.Row(self.message, self.scratch_button, sizing_mode="stretch_width"),
            visible=available, name="checkpoints", sizing_mode="stretch_width")

    def load(self) -> None:
        if self.select.value:
            self.act("load_checkpoint", checkpoint=self.select.value)
        else:
            self.message.object = "Choose a checkpoint to load first."

    def start_from_scratch(self) -> None:
        """A new model from iteration 0 instead of the pretrained one the first Play continued."""
        if self.restart is not None:
            self.restart()
        else:
            self.act("start_from_scratch")

    def update(self, info: dict[str, Any] | None) -> None:
        """Show the job's checkpoint report: options (only when they changed) and the last message."""
        if not info:
            return
        options = tuple(tuple(option) for option in info.get("options", ()))
        if options != self._options_key:
            self._options_key = options
            chosen = self.select.value
            self.select.options = dict(options)
            if chosen in self.select.options.values():
                self.select.value = chosen
        self.pretrained_button.disabled = not info.get("has_pretrained", False)
        continued = bool(info.get("started_from"))
        if self.scratch_button.visible != continued:
            self.scratch_button.visible = continued
        text = info.get("message") or ""
        shown = text if info.get("ok", True) else f"**{text}**"
        if self.message.object != shown:
            self.message.object = shown
