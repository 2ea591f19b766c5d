"""Tile a batch of small images into one mosaic array, for image glyphs in the app."""
from __future__ import annotations

import math

import numpy as np


def tile(images: np.ndarray, cols: int | None = None, pad: int = 1, normalize: str = "none",
         fill: float = np.nan, bottom_up: bool = True) -> np.ndarray:
    """``images`` (n, h, w) -> one (rows·(h+pad)-pad, cols·(w+pad)-pad) array.

    With ``bottom_up`` (the default) the rows are flipped so that an image glyph, which draws
    row 0 at the bottom, shows the first image at the top left, upright.

    ``normalize="each"`` rescales every tile to [0, 1] (for weight filters); ``"none"`` keeps values.
    The padding is ``fill`` (NaN draws as transparent in a Bokeh image).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must be (n, h, w), got shape {images.shape}")
    n, h, w = images.shape
    if n == 0:
        return np.full((h, w), fill, np.float32)
    if normalize == "each":
        lo = images.reshape(n, -1).min(axis=1)[:, None, None]
        hi = images.reshape(n, -1).max(axis=1)[:, None, None]
        images = (images - lo) / np.maximum(hi - lo, 1e-12)
    elif normalize != "none":
        raise ValueError(f"normalize must be 'none' or 'each', got {normalize!r}")
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill, np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = images[i]
    return np.ascontiguousarray(out[::-1]) if bottom_up else out
