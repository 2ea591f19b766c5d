"""OOD sets: right shape and range, fixed seeds; a user's own set and a user's image, validated."""
import gzip
import io
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from ebm_engine.data.digits import load_digits_grey
from ebm_engine.data.ood import OOD_SET_NAMES, OODSetError, load_user_images, make_ood_set
from ebm_engine.data.user_image import UserImageError, decode_png, rasterize_strokes

SHAPE = (8, 8)


@pytest.fixture(scope="module")
def digits():
    return load_digits_grey().test


@pytest.mark.parametrize("name", OOD_SET_NAMES)
def test_every_set_has_the_right_shape_range_and_seed(digits, name):
    x = make_ood_set(name, digits, SHAPE, seed=3)
    assert x.shape == (len(digits), 64) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0
    assert torch.equal(x, make_ood_set(name, digits, SHAPE, seed=3))
    assert not torch.equal(x, digits)
    if name in ("gaussian", "uniform", "natural"):
        assert make_ood_set(name, digits, SHAPE, seed=3, n=17).shape == (17, 64)
        assert not torch.equal(x, make_ood_set(name, digits, SHAPE, seed=4))


def test_digit_transforms(digits):
    imgs = digits.reshape(-1, 8, 8)
    assert torch.allclose(make_ood_set("inverted", digits, SHAPE), 1 - digits)
    rot = make_ood_set("rotated", digits, SHAPE).reshape(-1, 8, 8)
    assert torch.equal(rot[:, 0, :], imgs[:, :, -1])            # a quarter turn counter-clockwise
    flip = make_ood_set("flipped", digits, SHAPE).reshape(-1, 8, 8)
    assert torch.equal(flip, imgs.flip(1))


def test_noise_statistics(digits):
    u = make_ood_set("uniform", digits, SHAPE, n=4000)
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.003
    g = make_ood_set("gaussian", digits, SHAPE, n=4000)
    assert abs(g.mean().item() - 0.5) < 0.01 and abs(g.std().item() - 0.25) < 0.02


def test_natural_patches_span_the_range(digits):
    x = make_ood_set("natural", digits, SHAPE, n=20)
    assert torch.allclose(x.min(dim=1).values, torch.zeros(20)) and torch.allclose(x.max(dim=1).values, torch.ones(20))


def test_unknown_set(digits):
    with pytest.raises(ValueError, match="unknown OOD set"):
        make_ood_set("cifar", digits, SHAPE)


# --- a user's own set ---------------------------------------------------------------------------
def idx_images(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, 3]) + b"".join(struct.pack(">I", s) for s in array.shape) + array.tobytes()


def test_user_npy_uint8_is_scaled_and_resized(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "set.npy", images)
    x = load_user_images(tmp_path / "set.npy", SHAPE)
    assert x.shape == (30, 64) and x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    # area averaging: each 8×8 pixel is the mean of a 3.5×3.5 block, so about the image mean
    assert abs(x.mean().item() - images.mean() / 255) < 0.01
    flat = (rng.random((5, 64))).astype(np.float32)
    np.save(tmp_path / "flat.npy", flat)
    assert torch.allclose(load_user_images(tmp_path / "flat.npy", SHAPE), torch.from_numpy(flat))


def test_user_idx_file_and_folder(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (12, 8, 8), dtype=np.uint8)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(idx_images(images))
    x = load_user_images(tmp_path / "t10k-images-idx3-ubyte.gz", SHAPE)
    assert torch.allclose(x, torch.from_numpy(images.reshape(12, 64) / np.float32(255)))
    with pytest.raises(Exception, match="train-images"):           # a folder needs all four MNIST files
        load_user_images(tmp_path, SHAPE)


@pytest.mark.parametrize("array, message", [
    (np.linspace(0, 2.5, 192, dtype=np.float32).reshape(3, 8, 8), "range from 0 to 2.5"),
    (np.zeros((3, 4), np.float32), "expected images of shape"),
    (np.zeros((0, 8, 8), np.uint8), "empty"),
    (np.array([[[np.nan] * 8] * 8]), "NaN"),
])
def test_user_npy_errors_are_clear(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(OODSetError, match=message):
        load_user_images(tmp_path / "bad.npy", SHAPE)


def test_user_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_user_images(tmp_path / "nope.npy", SHAPE)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(OODSetError, match="IDX"):
        load_user_images(tmp_path / "notes.txt", SHAPE)
    with pytest.raises(OODSetError, match="name a"):
        load_user_images("", SHAPE)


# --- one image from the user ------------------------------------------------------------------------
def png(array: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def test_png_of_digit_size_is_read_exactly():
    img = np.zeros((8, 8), np.uint8)
    img[2:6, 3] = 255
    row = decode_png(png(img), SHAPE)
    assert row.shape == (64,) and row.dtype == np.float32
    np.testing.assert_allclose(row, img.reshape(-1) / 255.0, atol=1e-6)


def test_large_png_with_dark_ink_on_white_is_shrunk_and_inverted():
    img = np.full((64, 64), 255, np.uint8)
    img[16:48, 24:40] = 0                               # a black bar on white paper
    row = decode_png(png(img), SHAPE).reshape(8, 8)
    assert row[2:6, 3:5].min() > 0.99 and row[0].max() < 0.01     # bright ink on dark, like the digits
    rgba = np.zeros((16, 16, 4), np.uint8)              # transparent background, opaque black strokes
    rgba[4:12, 6:10] = (0, 0, 0, 255)
    row = decode_png(png(rgba, "RGBA"), SHAPE).reshape(8, 8)
    assert row[0, 0] < 0.01 and row[3, 3:5].min() > 0.99


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\xff\xd8\xff\xe0" + b"0" * 100, "JPEG, not a PNG"),
    (b"GIF89a" + b"0" * 10, "GIF, not a PNG"),
    (b"\x89PNG\r\n\x1a\n" + b"garbage", "could not be decoded"),
])
def test_wrong_file_types_give_a_clear_message(data, message):
    with pytest.raises(UserImageError, match=message):
        decode_png(data, SHAPE)


@pytest.mark.parametrize("size, message", [((30, 20), "is 30×20 px; upload a square"), ((4, 4), "from 8×8"),
                                           ((3000, 3000), "to 2048×2048")])
def test_wrong_sizes_give_a_clear_message(size, message):
    w, h = size
    with pytest.raises(UserImageError, match=message):
        decode_png(png(np.zeros((h, w), np.uint8)), SHAPE)


def test_strokes_are_rasterized_where_they_were_drawn():
    row = rasterize_strokes([[0.5, 0.5]], [[0.1, 0.9]], SHAPE).reshape(8, 8)   # a vertical line in the middle
    assert row.max() == pytest.approx(1.0)
    assert row[:, 3:5].mean() > 0.5 and row[:, :2].max() == 0 and row[:, 6:].max() == 0
    top = rasterize_strokes([[0.2, 0.8]], [[0.9, 0.9]], SHAPE).reshape(8, 8)   # y up: a line near the top
    assert top[:2].sum() > 0 and top[4:].sum() == 0
    with pytest.raises(UserImageError, match="empty"):
        rasterize_strokes([], [], SHAPE)
