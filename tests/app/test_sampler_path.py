"""The status line says how a sampling page's chains step: compiled (with chain-steps per second),
compiling, or eager with the reason compiling failed; pages without chains say nothing."""
from __future__ import annotations

from app.pages.base import sampler_path_text
from app.widgets.status_bar import StatusBar


def test_the_path_reads_compiled_with_the_chain_step_rate():
    assert sampler_path_text("compiled", 30.0, 1024) == "compiled · 30.7k chain-steps/s"
    assert sampler_path_text("compiled", 30.0, None) == "compiled"
    assert sampler_path_text("compiling", 30.0, 16) == "compiling…"
    why = "eager: compiling failed (RuntimeError: no C++ compiler found)"
    assert sampler_path_text(why, 30.0, 16) == why
    assert sampler_path_text(None, 30.0, 16) is None


def test_the_status_bar_shows_the_path_only_when_there_is_one():
    bar = StatusBar()
    bar.update("Samplers", "playing", "cpu", 30.0, 12, sampler_path="compiled · 1.0k chain-steps/s")
    assert 'id="ebm-sampler-path">compiled · 1.0k chain-steps/s<' in bar.pane.object
    bar.update("RBM", "playing", "cpu", 30.0, 12)
    assert "ebm-sampler-path" not in bar.pane.object
