"""Snapshot data as files to download: a NumPy ``.npz`` archive, a long-format CSV table, a PNG of a grey
mosaic, and an animated GIF of chain motion for slides.

``ChainFrames`` keeps the last few seconds of chain positions from snapshots (bounded, so memory never
grows); ``chain_gif`` draws them with Pillow over the surface image, one frame per recorded step.
"""
from __future__ import annotations

import csv
import io
import time
from collections import deque
from typing import Mapping, Sequence

import numpy as np


def export_arrays(snapshot: Mapping, keys: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The arrays named by ``keys`` ({name in the file: snapshot key}) that the snapshot holds."""
    return {name: np.asarray(snapshot[key]) for name, key in keys.items() if snapshot.get(key) is not None}


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A compressed ``.npz`` archive of ``arrays`` (load with ``np.load``)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: np.asarray(a) for name, a in arrays.items()})
    return buffer.getvalue()


def csv_text(arrays: Mapping[str, np.ndarray]) -> str:
    """One CSV table of every array: columns ``array, row, v0, v1, …`` with each row flattened.

    A 2D point cloud of shape (n, 2) gives n rows with ``v0, v1`` = x, y; an image mosaic gives one
    row per pixel row. Shorter rows leave the trailing cells empty.
    """
    rows = {name: np.asarray(a, dtype=np.float64) for name, a in arrays.items()}
    rows = {name: a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(-1, 1) for name, a in rows.items()}
    width = max((a.shape[1] for a in rows.values()), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["array", "row", *[f"v{j}" for j in range(width)]])
    for name, table in rows.items():
        for i, row in enumerate(table):
            cells = [repr(float(v)) for v in row]
            writer.writerow([name, i, *cells, *[""] * (width - len(cells))])
    return buffer.getvalue()


def mosaic_png(mosaic: np.ndarray, scale: int = 8, bottom_up: bool = True) -> bytes:
    """Encode a 2D array (values in [0, 1], NaN padding) as a grey PNG, ``scale``× nearest-neighbour.

    White is 0 and black is 1 (ink on paper, as the lab draws digits); NaN padding is drawn white.
    ``bottom_up`` mosaics (row 0 drawn at the bottom, see ``mosaic.tile``) are flipped back so the PNG is upright.
    """
    from PIL import Image

    image = np.asarray(mosaic, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"a mosaic must be a non-empty 2D array, got shape {image.shape}")
    if not (isinstance(scale, int) and 1 <= scale <= 64):
        raise ValueError(f"need an int scale in 1..64, got {scale}")
    if bottom_up:
        image = image[::-1]
    ink = np.clip(image, 0.0, 1.0)
    grey = np.where(np.isnan(image), 255, np.round(255 * (1.0 - np.nan_to_num(ink)))).astype(np.uint8)
    grey = np.kron(grey, np.ones((scale, scale), dtype=np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


#: a short viridis-like ramp (dark blue → green → yellow) interpolated for the surface
RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64)
CHAIN_COLOR = (255, 90, 54)
SURFACE_COLORS, DOT_INDEX, RIM_INDEX = 200, 254, 255


class ChainFrames:
    """A bounded record of (time, positions) from successive snapshots, plus the latest surface."""

    def __init__(self, seconds: float = 4.0, max_frames: int = 60):
        self.seconds = seconds
        self.frames: deque[tuple[float, np.ndarray]] = deque(maxlen=max_frames)
        self.surface: np.ndarray | None = None
        self.bounds = None

    def record(self, positions: np.ndarray, surface: np.ndarray | None = None, bounds=None,
               now: float | None = None) -> None:
        """Keep ``positions`` (n, 2); drop frames older than ``seconds``; an unchanged frame is not kept twice."""
        now = time.monotonic() if now is None else now
        positions = np.array(positions, dtype=np.float32, copy=True)
        if surface is not None:
            self.surface, self.bounds = surface, bounds
        if self.frames and np.array_equal(self.frames[-1][1], positions):
            return
        self.frames.append((now, positions))
        while self.frames and now - self.frames[0][0] > self.seconds:
            self.frames.popleft()

    def positions(self) -> list[np.ndarray]:
        return [p for _, p in self.frames]


def surface_rgb(surface: np.ndarray, size: int) -> np.ndarray:
    """A (size, size, 3) uint8 image of ``surface`` (row 0 = bottom), scaled to its finite range."""
    grid = np.asarray(surface, dtype=np.float64)
    finite = np.isfinite(grid)
    low, high = (grid[finite].min(), grid[finite].max()) if finite.any() else (0.0, 1.0)
    unit = np.where(finite, (grid - low) / (high - low if high > low else 1.0), 0.0)
    rows = np.linspace(0, grid.shape[0] - 1, size).round().astype(int)
    cols = np.linspace(0, grid.shape[1] - 1, size).round().astype(int)
    unit = unit[rows][:, cols][::-1]                         # image row 0 is the top
    position = unit * (len(RAMP) - 1)
    lower = np.clip(np.floor(position).astype(int), 0, len(RAMP) - 2)
    frac = (position - lower)[..., None]
    return (RAMP[lower] * (1 - frac) + RAMP[lower + 1] * frac).astype(np.uint8)


def chain_gif(frames: Sequence[np.ndarray], surface: np.ndarray, bounds, size: int = 320,
              frame_ms: int = 80, dot: int = 3) -> bytes:
    """GIF bytes: one frame per entry of ``frames`` (chain positions (n, 2)) drawn over ``surface``.

    ``bounds`` is ((x0, x1), (y0, y1)) of the surface; points outside are not drawn. Loops forever.
    """
    from PIL import Image, ImageDraw

    if not frames:
        raise ValueError("no frames recorded yet")
    if not (16 <= size <= 2048) or frame_ms < 10:
        raise ValueError(f"need 16 <= size <= 2048 and frame_ms >= 10, got {size}, {frame_ms}")
    (x0, x1), (y0, y1) = bounds
    # one palette for every frame: the surface's colours plus two slots for the dots (no per-frame quantising)
    background = Image.fromarray(surface_rgb(surface, size), mode="RGB").quantize(
        colors=SURFACE_COLORS, method=Image.Quantize.MEDIANCUT)
    palette = (background.getpalette()[:3 * SURFACE_COLORS] + [0] * 768)[:768]
    palette[3 * DOT_INDEX:3 * DOT_INDEX + 3] = CHAIN_COLOR
    palette[3 * RIM_INDEX:3 * RIM_INDEX + 3] = (255, 255, 255)
    background.putpalette(palette)
    images = []
    for xy in frames:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        px = (xy[:, 0] - x0) / (x1 - x0) * (size - 1)
        py = (1.0 - (xy[:, 1] - y0) / (y1 - y0)) * (size - 1)
        inside = np.isfinite(px) & np.isfinite(py) & (px >= 0) & (px < size) & (py >= 0) & (py < size)
        image = background.copy()
        draw = ImageDraw.Draw(image)
        for x, y in zip(px[inside], py[inside]):
            draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=DOT_INDEX, outline=RIM_INDEX)
        images.append(image)
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0,
                   optimize=False, disposal=1)
    return buffer.getvalue()
