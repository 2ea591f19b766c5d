"""EBM Lab engine: energies, models, samplers, training, metrics and the background runtime.

This package never imports panel, holoviews or bokeh: it runs from a notebook, a script
or the lab's engine process alike.
"""
from ebm_engine.device import make_generator, select_device

__all__ = ["make_generator", "select_device"]
