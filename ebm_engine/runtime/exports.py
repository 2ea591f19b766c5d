"""Snapshot arrays as files to download: a NumPy ``.npz`` archive and a long-format CSV table."""
from __future__ import annotations

import csv
import io
from typing import Mapping

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
