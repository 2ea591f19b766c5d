"""EBM Lab engine: energies, models, samplers, training, metrics and the background runtime.

This package never imports panel, holoviews or bokeh: it runs from a notebook, a script
or the lab's engine process alike.
"""
from importlib.metadata import PackageNotFoundError, version

from ebm_engine.device import make_generator, select_device

try:
    __version__ = version("ebm-lab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+source"

__all__ = ["__version__", "make_generator", "select_device"]
