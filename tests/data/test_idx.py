"""IDX reader and MNIST-folder loader on small files written here: round trips and every malformed case."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ebm_engine.data import DigitSplit, IDXFileMissingError, IDXFormatError, load_mnist_folder, read_idx

CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
         np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array: np.ndarray, code: int | None = None, n_dims: int | None = None) -> bytes:
    code = CODES[array.dtype] if code is None else code
    n_dims = array.ndim if n_dims is None else n_dims
    header = bytes([0, 0, code, n_dims]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def images(n: int, h: int = 28, w: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w), dtype=np.uint8)


def labels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 100).integers(0, 10, size=n, dtype=np.uint8)


def mnist_folder(root: Path, n_train=12, n_test=5, h=28, w=28, gz=False, skip=(), overrides=None) -> Path:
    root.mkdir(exist_ok=True)
    ext = ".gz" if gz else ""
    files = {"train-images-idx3-ubyte": idx_bytes(images(n_train, h, w, 1)),
             "train-labels-idx1-ubyte": idx_bytes(labels(n_train, 1)),
             "t10k-images-idx3-ubyte": idx_bytes(images(n_test, h, w, 2)),
             "t10k-labels-idx1-ubyte": idx_bytes(labels(n_test, 2))}
    files.update(overrides or {})
    for name, data in files.items():
        if name not in skip:
            write(root / (name + ext), data)
    return root


# ---------------------------------------------------------------- read_idx round trips


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_ubyte_images_and_labels_round_trip(tmp_path, suffix):
    x, y = images(7), labels(7)
    got_x = read_idx(write(tmp_path / f"img{suffix}", idx_bytes(x)))
    got_y = read_idx(write(tmp_path / f"lab{suffix}", idx_bytes(y)))
    assert got_x.dtype == np.uint8 and got_x.shape == (7, 28, 28) and np.array_equal(got_x, x)
    assert got_y.dtype == np.uint8 and np.array_equal(got_y, y)
    got_x[0, 0, 0] = 1  # writable, not a view of a bytes buffer


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_other_types_round_trip_native_endian(tmp_path, dtype):
    x = (np.arange(24).reshape(2, 3, 4) - 11).astype(dtype)
    got = read_idx(write(tmp_path / "a.idx", idx_bytes(x)))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and np.array_equal(got, x)


def test_four_dims_and_empty_array(tmp_path):
    x = np.arange(2 * 3 * 2 * 2, dtype=np.uint8).reshape(2, 3, 2, 2)
    assert np.array_equal(read_idx(write(tmp_path / "four", idx_bytes(x))), x)
    assert read_idx(write(tmp_path / "empty", idx_bytes(np.zeros((0, 28, 28), np.uint8)))).shape == (0, 28, 28)


# ---------------------------------------------------------------- read_idx errors


def check_error(path: Path, *words: str, cls=IDXFormatError):
    with pytest.raises(cls) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message.lower(), message
    return message


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_wrong_magic(tmp_path, suffix):
    good = idx_bytes(labels(4))
    check_error(write(tmp_path / f"a{suffix}", b"\x01" + good[1:]), "magic", "zero bytes")
    check_error(write(tmp_path / f"b{suffix}", good[:2] + b"\x0a" + good[3:]), "magic", "type code 0x0a")
    check_error(write(tmp_path / f"c{suffix}", good[:3] + b"\x00" + good[4:]), "magic", "0 dimensions")
    check_error(write(tmp_path / f"d{suffix}", good[:3] + b"\x05" + good[4:]), "magic", "5 dimensions")
    check_error(write(tmp_path / f"e{suffix}", b"\x00\x00"), "too short")
    check_error(write(tmp_path / f"f{suffix}", b""), "too short")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_header_and_payload(tmp_path, suffix):
    good = idx_bytes(images(3))
    check_error(write(tmp_path / f"h{suffix}", good[:10]), "truncated header")
    check_error(write(tmp_path / f"p{suffix}", good[:-1]), "truncated data", "(3, 28, 28)")
    check_error(write(tmp_path / f"q{suffix}", good[:16]), "truncated data")


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_extra_bytes(tmp_path, suffix):
    check_error(write(tmp_path / f"x{suffix}", idx_bytes(labels(5)) + b"\x00\x01\x02"), "3 unexpected bytes")


def test_header_dims_disagreeing_with_payload(tmp_path):
    x = images(2)
    lying = bytes([0, 0, 8, 3]) + struct.pack(">III", 3, 28, 28) + x.tobytes()  # says 3 images, holds 2
    check_error(write(tmp_path / "lie", lying), "truncated data")
    huge = bytes([0, 0, 8, 2]) + struct.pack(">II", 2**32 - 1, 2**32 - 1) + b"\x00" * 8
    check_error(write(tmp_path / "huge", huge), "truncated data")


def test_corrupt_gzip(tmp_path):
    (tmp_path / "notgz.gz").write_bytes(idx_bytes(labels(3)))  # plain bytes under a .gz name
    check_error(tmp_path / "notgz.gz", "gzip")
    full = gzip.compress(idx_bytes(images(3)))
    (tmp_path / "cut.gz").write_bytes(full[: len(full) // 2])
    check_error(tmp_path / "cut.gz", "gzip")
    (tmp_path / "isgz").write_bytes(gzip.compress(idx_bytes(labels(3))))  # gzip bytes, plain name
    check_error(tmp_path / "isgz", "magic", "looks gzip-compressed")


def test_missing_file_and_directory(tmp_path):
    message = check_error(tmp_path / "nope-idx1-ubyte", "no such file", cls=IDXFileMissingError)
    assert "nope" in message
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope-idx1-ubyte")
    check_error(tmp_path, "not a regular file")


# ---------------------------------------------------------------- load_mnist_folder


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_folder_round_trip(tmp_path, gz):
    folder = mnist_folder(tmp_path / "mnist", gz=gz)
    d = load_mnist_folder(folder)
    assert isinstance(d, DigitSplit) and d.shape == (28, 28) and d.train.shape[1] == 784
    assert d.train.shape == (12, 784) and d.test.shape == (5, 784)
    assert d.train.dtype == torch.float32 and d.train_labels.dtype == torch.int64
    assert torch.equal(d.train, torch.tensor((images(12, seed=1).reshape(12, -1) >= 128).astype(np.float32)))
    assert torch.equal(d.test_labels, torch.tensor(labels(5, 2), dtype=torch.int64))
    assert set(torch.unique(d.train).tolist()) == {0.0, 1.0} and "mnist" in d.name


def test_mnist_folder_grey_threshold_limit_and_other_shapes(tmp_path):
    folder = mnist_folder(tmp_path / "small", h=5, w=7)
    grey = load_mnist_folder(folder, binarize=False, limit=3)
    assert grey.shape == (5, 7) and grey.train.shape == (3, 35) and grey.test.shape == (3, 35)
    assert torch.allclose(grey.train, torch.tensor(images(12, 5, 7, 1)[:3].reshape(3, -1) / 255.0, dtype=torch.float32))
    low, high = load_mnist_folder(folder, threshold=10), load_mnist_folder(folder, threshold=250)
    assert low.train.mean() > high.train.mean()
    with pytest.raises(ValueError):
        load_mnist_folder(folder, threshold=0)
    with pytest.raises(ValueError):
        load_mnist_folder(folder, limit=0)


def folder_error(folder: Path, *words: str, cls=IDXFormatError) -> str:
    with pytest.raises(cls) as info:
        load_mnist_folder(folder)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message.lower(), message
    return message


def test_missing_folder_and_missing_file(tmp_path):
    folder_error(tmp_path / "absent", "no such folder", cls=IDXFileMissingError)
    with pytest.raises(FileNotFoundError):
        load_mnist_folder(tmp_path / "absent")
    folder = mnist_folder(tmp_path / "partial", skip=("t10k-labels-idx1-ubyte",))
    message = folder_error(folder, "no test labels", "t10k-labels-idx1-ubyte", cls=IDXFileMissingError)
    assert str(folder) in message
    (tmp_path / "file").write_bytes(b"")
    folder_error(tmp_path / "file", "not a folder")


def test_mismatched_label_count(tmp_path):
    folder = mnist_folder(tmp_path / "m", overrides={"train-labels-idx1-ubyte": idx_bytes(labels(11))})
    folder_error(folder, "label count 11", "image count 12")


def test_wrong_dims_in_folder(tmp_path):
    flat = mnist_folder(tmp_path / "a", overrides={"train-images-idx3-ubyte": idx_bytes(np.zeros((12, 784), np.uint8))})
    folder_error(flat, "3 dimensions", "(12, 784)")
    lab2d = mnist_folder(tmp_path / "b", overrides={"t10k-labels-idx1-ubyte": idx_bytes(np.zeros((5, 1), np.uint8))})
    folder_error(lab2d, "1 dimension")
    floats = mnist_folder(tmp_path / "c", overrides={"train-images-idx3-ubyte": idx_bytes(np.zeros((12, 28, 28), np.float32))})
    folder_error(floats, "unsigned bytes")
    sizes = mnist_folder(tmp_path / "d", overrides={"t10k-images-idx3-ubyte": idx_bytes(images(5, 20, 20))})
    folder_error(sizes, "28×28", "20×20")


def test_malformed_file_in_folder_names_the_file(tmp_path):
    bad = idx_bytes(images(12))[:-5]
    folder = mnist_folder(tmp_path / "t", gz=True, overrides={"train-images-idx3-ubyte": bad})
    message = folder_error(folder, "truncated data")
    assert "train-images-idx3-ubyte.gz" in message
