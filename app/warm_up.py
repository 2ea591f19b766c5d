"""Run once before the server starts (``panel serve app/main.py --setup app/warm_up.py``): import
the lab's modules and start the engines' fork server (which imports torch and the jobs), so that the
first visitor gets a page and a running engine at once instead of waiting several seconds for both."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import importlib  # noqa: E402

from ebm_engine.runtime.runner import start_engine_server  # noqa: E402

# every page, and HoloViews' Bokeh renderer, which the vector-field plots import when first drawn
for module in ("app.pages", "app.session", "app.shell", "holoviews.plotting.bokeh"):
    importlib.import_module(module)
start_engine_server()
