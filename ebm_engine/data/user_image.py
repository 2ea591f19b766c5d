"""One image from the user, as a model input: an uploaded PNG or strokes drawn on a canvas.

Both give a float32 ``(H·W,)`` row in [0, 1] with the digits' polarity: bright ink on a dark
background. ``decode_png`` accepts a square PNG from 8 px to 2048 px a side (resized by area
averaging); a light background (border brighter than mid-grey) is inverted. Anything else raises
``UserImageError`` with a one-line message that says what was wrong and what is expected.
"""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from ebm_engine.data.ood import shrink

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 2048
CANVAS_PX = 112            # strokes are drawn at this resolution, then shrunk
OTHER_FORMATS = {b"\xff\xd8\xff": "a JPEG", b"GIF8": "a GIF", b"BM": "a BMP", b"%PDF": "a PDF"}   # by magic bytes


class UserImageError(ValueError):
    """An uploaded or drawn image cannot be used; the message says why."""


def decode_png(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """A PNG file's bytes -> one ``shape`` image as a flat float32 row in [0, 1], ink bright."""
    if not isinstance(data, (bytes, bytearray)) or len(data) == 0:
        raise UserImageError("the upload is empty; choose a PNG image")
    if len(data) > MAX_BYTES:
        raise UserImageError(f"the file is {len(data) / 2**20:.1f} MB; upload a PNG under {MAX_BYTES // 2**20} MB")
    if not bytes(data[:8]) == PNG_SIGNATURE:
        what = next((name for magic, name in OTHER_FORMATS.items() if data.startswith(magic)),
                    "not an image PNG can read")
        raise UserImageError(f"the file is {what}, not a PNG; upload a .png image")
    try:
        with Image.open(io.BytesIO(bytes(data))) as img:
            img.load()
            width, height = img.size
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                rgba = img.convert("RGBA")
                paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(paper, rgba)
            grey = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserImageError(f"the PNG could not be decoded ({exc}); it may be damaged") from exc
    h, w = shape
    if width != height:
        raise UserImageError(f"the image is {width}×{height} px; upload a square image "
                             f"({w}×{h} px, or any square size from {w} to {MAX_SIDE} px)")
    if width < w or width > MAX_SIDE:
        raise UserImageError(f"the image is {width}×{height} px; it must be square, from {w}×{h} to "
                             f"{MAX_SIDE}×{MAX_SIDE} px")
    small = np.clip(shrink(grey, shape), 0.0, 1.0)
    border = np.concatenate([small[0], small[-1], small[1:-1, 0], small[1:-1, -1]])
    if border.mean() > 0.5:   # dark ink on light paper: flip to the digits' bright-on-dark polarity
        small = 1.0 - small
    return small.reshape(-1).astype(np.float32)


def rasterize_strokes(xs: Sequence[Sequence[float]], ys: Sequence[Sequence[float]], shape: tuple[int, int],
                      width: float = 0.11) -> np.ndarray:
    """Polylines drawn on a unit canvas (x right, y up, both in [0, 1]) -> a flat ``shape`` image.

    Strokes are drawn ``width`` (a fraction of the canvas side) thick at ``CANVAS_PX`` px, shrunk by
    area averaging and scaled so the brightest pixel is 1 (digits' ink is at full brightness).
    """
    if len(xs) != len(ys):
        raise UserImageError(f"{len(xs)} x-strokes but {len(ys)} y-strokes")
    canvas = Image.new("L", (CANVAS_PX, CANVAS_PX), 0)
    draw = ImageDraw.Draw(canvas)
    thickness = max(1, round(width * CANVAS_PX))
    n_points = 0
    for sx, sy in zip(xs, ys):
        sx, sy = np.asarray(sx, dtype=np.float64), np.asarray(sy, dtype=np.float64)
        if sx.shape != sy.shape:
            raise UserImageError("a stroke has different numbers of x and y points")
        keep = np.isfinite(sx) & np.isfinite(sy)
        points = [(float(x * CANVAS_PX), float((1.0 - y) * CANVAS_PX)) for x, y in zip(sx[keep], sy[keep])]
        n_points += len(points)
        if len(points) > 1:
            draw.line(points, fill=255, width=thickness, joint="curve")
        r = thickness / 2
        for x, y in points[:1] + points[-1:]:   # round ends; a lone point is a dot
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    if n_points == 0:
        raise UserImageError("the canvas is empty; draw something first")
    small = shrink(np.asarray(canvas, dtype=np.float32) / 255.0, shape)
    peak = float(small.max())
    if peak <= 0:
        raise UserImageError("the strokes lie outside the canvas; draw inside it")
    return (small / peak).reshape(-1).astype(np.float32)
