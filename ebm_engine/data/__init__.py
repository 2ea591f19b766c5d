"""Data: 2D toy sets (``toy2d``), and later digit images, OOD sets and loaders for user files.

``toy2d.sample(name, n, generator)`` draws the FFJORD-style toy sets named in ``TOY2D_NAMES``.
"""
from ebm_engine.data import toy2d
from ebm_engine.data.toy2d import NAMES as TOY2D_NAMES

__all__ = ["toy2d", "TOY2D_NAMES"]
