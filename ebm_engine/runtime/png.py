"""PNG bytes of a grey mosaic (for "export as PNG"), encoded with Pillow."""
from __future__ import annotations

import io

import numpy as np


def mosaic_png(mosaic: np.ndarray, scale: int = 8, low: float = 0.0, high: float = 1.0,
               bottom_up: bool = True) -> bytes:
    """Encode a 2D array (values in ``[low, high]``, NaN padding) as a grey PNG, ``scale``× nearest-neighbour.

    White is ``low`` and black is ``high`` (ink on paper, as the lab draws digits); NaN padding is
    drawn white. ``bottom_up`` mosaics (row 0 drawn at the bottom, see ``mosaic.tile``) are flipped
    back so the PNG is upright.
    """
    from PIL import Image

    image = np.asarray(mosaic, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"a mosaic must be a non-empty 2D array, got shape {image.shape}")
    if not (isinstance(scale, int) and 1 <= scale <= 64) or not high > low:
        raise ValueError(f"need an int scale in 1..64 and high > low, got {scale}, {low}, {high}")
    if bottom_up:
        image = image[::-1]
    ink = np.clip((image - low) / (high - low), 0.0, 1.0)
    grey = np.where(np.isnan(image), 255, np.round(255 * (1.0 - np.nan_to_num(ink)))).astype(np.uint8)
    grey = np.kron(grey, np.ones((scale, scale), dtype=np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()
