"""The headless command line: ``python -m ebm_engine`` or ``ebm-lab`` (train, sample, evaluate, list, serve)."""
from ebm_engine.cli.main import main

__all__ = ["main"]
