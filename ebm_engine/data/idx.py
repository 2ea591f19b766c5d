"""IDX files (the MNIST format), read with numpy, and a loader for an MNIST-style folder.

IDX layout (big-endian): two zero bytes, a type code, the number of dimensions ``d``, then ``d``
unsigned 32-bit sizes, then the values in row-major (C) order::

    0x08 unsigned byte   0x09 signed byte   0x0B int16   0x0C int32   0x0D float32   0x0E float64

``read_idx`` checks everything: the magic, ``1 <= d <= 4``, a complete header, and a payload of
exactly ``prod(sizes) * itemsize`` bytes. Any problem raises ``IDXFormatError`` whose one-line
message names the file and says what is wrong; no raw struct / numpy / gzip error escapes. A caller
that only wants "could this folder be loaded?" catches ``IDXFormatError``; one that cares about
missing paths catches ``FileNotFoundError`` (``IDXFileMissingError`` is both).
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from ebm_engine.data.digits import DigitSplit

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_DIMS = 4

# Standard MNIST / Fashion-MNIST names; Kaggle copies use a dot before "idx".
_SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


class IDXFormatError(ValueError):
    """An IDX file (or an MNIST-style folder) cannot be read; the message names the file and the problem."""


class IDXFileMissingError(IDXFormatError, FileNotFoundError):
    """An IDX file or the folder holding it does not exist (also a ``FileNotFoundError``)."""


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise IDXFileMissingError(f"{path}: no such file")
    if not path.is_file():
        raise IDXFormatError(f"{path}: not a regular file")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise IDXFormatError(f"{path}: not a valid gzip file ({exc})") from exc
    except OSError as exc:
        raise IDXFormatError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain, or gzip if the name ends in ``.gz``) into a native-endian numpy array.

    The array has the header's shape and dtype (uint8, int8, int16, int32, float32 or float64) and
    is writable. Raises ``IDXFormatError`` (``IDXFileMissingError`` for a missing file).
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IDXFormatError(f"{path}: file is {len(raw)} bytes, too short for the 4-byte IDX magic number")
    type_code, n_dims = raw[2], raw[3]
    bad_magic = f"{path}: bad IDX magic number 0x{raw[:4].hex()}"
    if raw[:2] != b"\x00\x00":
        hint = "; the file looks gzip-compressed: name it *.gz" if raw[:2] == b"\x1f\x8b" else ""
        raise IDXFormatError(f"{bad_magic} (must start with two zero bytes){hint}")
    if type_code not in IDX_DTYPES:
        codes = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXFormatError(f"{bad_magic}: unknown type code 0x{type_code:02X} (expected one of {codes})")
    if not 1 <= n_dims <= MAX_DIMS:
        raise IDXFormatError(f"{bad_magic}: {n_dims} dimensions (expected 1 to {MAX_DIMS})")
    header_len = 4 + 4 * n_dims
    if len(raw) < header_len:
        raise IDXFormatError(f"{path}: truncated header: {n_dims} dimension sizes need {header_len} bytes, "
                             f"the file has {len(raw)}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
    dtype = IDX_DTYPES[type_code]
    expected = math.prod(dims) * dtype.itemsize
    got = len(raw) - header_len
    if got < expected:
        raise IDXFormatError(f"{path}: truncated data: header says shape {dims} of {dtype.name} "
                             f"({expected} bytes), the file has {got} bytes after the header")
    if got > expected:
        raise IDXFormatError(f"{path}: {got - expected} unexpected bytes after the data: header says shape "
                             f"{dims} of {dtype.name} ({expected} bytes), the file has {got}")
    values = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return values.astype(dtype.newbyteorder("="), copy=True)


def _find(folder: Path, what: str) -> Path:
    """The file for ``what`` in ``folder``: plain name first, then ``.gz``, standard names first."""
    names = _SPLIT_FILES[what]
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise IDXFileMissingError(f"{folder}: no {what} file (looked for {names[0]} or {names[0]}.gz)")


def _check_split(folder: Path, split: str, images_path: Path, images: np.ndarray,
                 labels_path: Path, labels: np.ndarray) -> None:
    if images.ndim != 3:
        raise IDXFormatError(f"{images_path}: {split} images must have 3 dimensions (N, H, W), "
                             f"got shape {images.shape}")
    if images.dtype != np.uint8:
        raise IDXFormatError(f"{images_path}: {split} images must be unsigned bytes (type 0x08), "
                             f"got {images.dtype.name}")
    if images.shape[0] == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise IDXFormatError(f"{images_path}: {split} images are empty (shape {images.shape})")
    if labels.ndim != 1:
        raise IDXFormatError(f"{labels_path}: {split} labels must have 1 dimension (N,), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise IDXFormatError(f"{labels_path}: {split} labels must be integers, got {labels.dtype.name}")
    if labels.shape[0] != images.shape[0]:
        raise IDXFormatError(f"{folder}: {split} label count {labels.shape[0]} ({labels_path.name}) does not "
                             f"match image count {images.shape[0]} ({images_path.name})")


def load_mnist_folder(folder: str | Path, binarize: bool = True, threshold: int = 128,
                      limit: int | None = None) -> DigitSplit:
    """Load an MNIST-style folder (MNIST, Fashion-MNIST, ...) of four IDX files into a ``DigitSplit``.

    Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each plain or ``.gz`` (plain wins if both exist). Images must be
    unsigned bytes ``N×H×W`` (any H×W, the same for train and test; recorded in ``shape``), labels
    ``N`` integers. The split is the files' own train/test split. Images are flattened to
    ``(N, H*W)`` float32: ``pixel >= threshold`` as 0/1 when ``binarize`` (threshold in 1..255),
    otherwise ``pixel / 255``. ``limit`` keeps the first ``limit`` rows of each split.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or not 1 <= threshold <= 255:
        raise ValueError(f"threshold must be an int in 1..255 (pixels are 0..255), got {threshold!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    folder = Path(folder)
    if not folder.exists():
        raise IDXFileMissingError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise IDXFormatError(f"{folder}: not a folder")
    images: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        images_path, labels_path = _find(folder, f"{split} images"), _find(folder, f"{split} labels")
        images[split], labels[split] = read_idx(images_path), read_idx(labels_path)
        _check_split(folder, split, images_path, images[split], labels_path, labels[split])
        images[split], labels[split] = images[split][:limit], labels[split][:limit]
    (height, width), test_size = images["train"].shape[1:], images["test"].shape[1:]
    if (height, width) != test_size:
        raise IDXFormatError(f"{folder}: train images are {height}×{width} but test images are "
                             f"{test_size[0]}×{test_size[1]}")

    def rows(split: str) -> torch.Tensor:
        flat = images[split].reshape(len(images[split]), height * width)
        return torch.from_numpy((flat >= threshold).astype(np.float32) if binarize
                                else flat.astype(np.float32) / np.float32(255.0))

    kind = f"binary(pixel>={threshold}/255)" if binarize else "grey"
    return DigitSplit(
        train=rows("train"),
        test=rows("test"),
        train_labels=torch.from_numpy(labels["train"].astype(np.int64)),
        test_labels=torch.from_numpy(labels["test"].astype(np.int64)),
        shape=(int(height), int(width)),
        name=f"{folder.resolve().name}-{kind}",
        train_index=torch.arange(len(images["train"]), dtype=torch.int64),
        test_index=torch.arange(len(images["test"]), dtype=torch.int64),
    )
