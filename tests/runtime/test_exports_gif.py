"""Snapshot exports: .npz and CSV contents, and the chain-motion GIF (frames, size, motion)."""
import csv
import io

import numpy as np
import pytest
from PIL import Image

from ebm_engine.runtime.exports import ChainFrames, chain_gif, csv_text, export_arrays, npz_bytes, surface_rgb


def test_npz_and_csv_hold_the_snapshot_arrays():
    rng = np.random.default_rng(0)
    snapshot = {"positions": rng.normal(size=(5, 2)).astype(np.float32), "grid": rng.random((3, 4)), "step": 7}
    arrays = export_arrays(snapshot, {"chains": "positions", "image": "grid", "missing": "nothing"})
    assert set(arrays) == {"chains", "image"}
    loaded = np.load(io.BytesIO(npz_bytes(arrays)))
    np.testing.assert_array_equal(loaded["chains"], snapshot["positions"])
    np.testing.assert_array_equal(loaded["image"], snapshot["grid"])
    rows = list(csv.reader(io.StringIO(csv_text(arrays))))
    assert rows[0] == ["array", "row", "v0", "v1", "v2", "v3"]
    chains = [r for r in rows[1:] if r[0] == "chains"]
    assert [int(r[1]) for r in chains] == list(range(5))
    np.testing.assert_array_equal(np.array([[float(v) for v in r[2:4]] for r in chains], np.float32),
                                  snapshot["positions"])
    assert all(r[4:] == ["", ""] for r in chains)
    image = np.array([[float(v) for v in r[2:]] for r in rows[1:] if r[0] == "image"])
    np.testing.assert_array_equal(image, snapshot["grid"])


def test_chain_frames_keep_only_the_last_seconds_and_skip_repeats():
    frames = ChainFrames(seconds=1.0, max_frames=100)
    for i in range(30):
        frames.record(np.full((3, 2), float(i)), now=i * 0.125)
    frames.record(np.full((3, 2), 29.0), now=3.9)         # unchanged positions are not kept twice
    kept = frames.positions()
    assert len(kept) == 9 and kept[0][0, 0] == 21.0 and kept[-1][0, 0] == 29.0
    assert frames.frames[-1][0] - frames.frames[0][0] == pytest.approx(1.0)
    bounded = ChainFrames(seconds=100.0, max_frames=8)
    for i in range(20):
        bounded.record(np.full((1, 2), float(i)), now=float(i))
    assert len(bounded.frames) == 8


def test_gif_has_one_frame_per_record_of_the_requested_size_and_the_frames_differ():
    x, y = np.meshgrid(np.linspace(-2, 2, 40), np.linspace(-2, 2, 40))
    surface = np.exp(-(x ** 2 + y ** 2))
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    frames = [np.stack([np.cos(angles + t), np.sin(angles + t)], axis=1) for t in np.linspace(0, 1.5, 9)]
    gif = Image.open(io.BytesIO(chain_gif(frames, surface, ((-2, 2), (-2, 2)), size=120, frame_ms=50)))
    assert gif.format == "GIF" and gif.size == (120, 120) and gif.n_frames == 9
    pictures = []
    for index in range(gif.n_frames):
        gif.seek(index)
        pictures.append(np.asarray(gif.convert("RGB"), dtype=np.int16))
    assert all(np.abs(a - b).sum() > 0 for a, b in zip(pictures, pictures[1:]))
    orange = np.all(np.abs(pictures[0] - np.array([255, 90, 54])) < 40, axis=-1)
    assert orange.sum() > 12 * 5                            # every chain drawn as a dot


def test_surface_is_drawn_upright_and_bad_input_is_refused():
    surface = np.zeros((10, 10))
    surface[-1] = 1.0                                       # the top row of the surface (largest y)
    rgb = surface_rgb(surface, 20)
    assert rgb[0].mean() > rgb[-1].mean()                   # bright at the top of the image
    with pytest.raises(ValueError):
        chain_gif([], surface, ((0, 1), (0, 1)))
    with pytest.raises(ValueError):
        chain_gif([np.zeros((1, 2))], surface, ((0, 1), (0, 1)), size=4)
