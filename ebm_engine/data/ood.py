"""Out-of-distribution image sets for a model trained on digits, each from a fixed seed.

Every set is a float32 ``(n, H·W)`` tensor of flattened ``H×W`` images with pixels in [0, 1], the
same layout as ``DigitSplit`` rows:

- ``gaussian``: pixels ``N(0.5, 0.25²)``, clipped to [0, 1];
- ``uniform``: pixels ``U[0, 1]``;
- ``inverted``: test digits, ``1 - x``;
- ``rotated``: test digits turned a quarter turn;
- ``flipped``: test digits upside down (vertical flip);
- ``natural``: grey patches cut at random from scikit-learn's bundled photographs
  (``load_sample_images``), shrunk to ``H×W`` by area averaging and stretched to [0, 1] each, so
  brightness alone does not give them away.

``load_user_images`` reads a user's own set.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ebm_engine.data.idx import IDXFormatError, load_mnist_folder, read_idx

OOD_SET_NAMES: tuple[str, ...] = ("gaussian", "uniform", "inverted", "rotated", "flipped", "natural")
OOD_SET_LABELS: dict[str, str] = {
    "gaussian": "Gaussian noise", "uniform": "uniform noise", "inverted": "inverted digits",
    "rotated": "rotated digits", "flipped": "flipped digits", "natural": "natural-image patches",
    "user": "your image set"}
NATURAL_PATCH = 32          # side of the photo patches before they are shrunk to digit size
USER_LIMIT = 2000           # images kept from a user's set


class OODSetError(ValueError):
    """A user-supplied image set cannot be used; the message says why."""


@lru_cache(maxsize=1)
def _photos_grey() -> tuple[np.ndarray, ...]:
    """scikit-learn's sample photographs as grey float32 arrays in [0, 1] (ITU-R 601 luma)."""
    from sklearn.datasets import load_sample_images

    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return tuple((np.asarray(img, dtype=np.float32) @ weights) / 255.0 for img in load_sample_images().images)


def shrink(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize one grey image with values in [0, 1] to ``shape`` (H, W) by area averaging (PIL BOX)."""
    if image.shape == tuple(shape):
        return image.astype(np.float32)
    pil = Image.fromarray(np.asarray(image, dtype=np.float32), mode="F")
    return np.asarray(pil.resize((shape[1], shape[0]), Image.Resampling.BOX), dtype=np.float32)


def natural_patches(n: int, shape: tuple[int, int], seed: int = 0, patch: int = NATURAL_PATCH) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    photos = _photos_grey()
    out = np.empty((n, shape[0] * shape[1]), np.float32)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        top = rng.integers(photo.shape[0] - patch + 1)
        left = rng.integers(photo.shape[1] - patch + 1)
        small = shrink(photo[top:top + patch, left:left + patch], shape)
        lo, hi = small.min(), small.max()
        out[i] = ((small - lo) / max(hi - lo, 1e-6)).ravel()
    return torch.from_numpy(out)


def make_ood_set(name: str, digits: torch.Tensor, shape: tuple[int, int], seed: int = 0,
                 n: int | None = None) -> torch.Tensor:
    """The OOD set ``name`` (see ``OOD_SET_NAMES``) matching ``digits`` (in-distribution test rows).

    Noise and photo sets have ``n`` images (default: as many as ``digits``); digit transforms have
    one per test digit.
    """
    n = len(digits) if n is None else int(n)
    shape = tuple(shape)
    if name == "gaussian":
        noise = torch.randn(n, shape[0] * shape[1], generator=torch.Generator().manual_seed(seed))
        return (0.5 + 0.25 * noise).clamp_(0.0, 1.0)
    if name == "uniform":
        return torch.rand(n, shape[0] * shape[1], generator=torch.Generator().manual_seed(seed + 1))
    if name == "inverted":
        return 1.0 - digits.cpu()
    if name == "rotated" and shape[0] != shape[1]:
        raise ValueError(f"a quarter turn needs square images, got {shape}")
    if name in ("rotated", "flipped"):
        images = digits.cpu().reshape(-1, *shape)
        moved = torch.rot90(images, 1, dims=(1, 2)) if name == "rotated" else torch.flip(images, dims=(1,))
        return moved.reshape(len(digits), -1).contiguous()
    if name == "natural":
        return natural_patches(n, shape, seed + 2)
    raise ValueError(f"unknown OOD set {name!r}; choose from {list(OOD_SET_NAMES)}")


def _as_unit_images(array: np.ndarray, source: str) -> np.ndarray:
    """Check an ``(N, H, W)`` array of pixels and scale it to float32 in [0, 1]."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise OODSetError(f"{source}: pixels must be numbers, got dtype {array.dtype}")
    values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise OODSetError(f"{source}: some pixels are NaN or infinite")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0.0 or hi > 1.0:
        raise OODSetError(f"{source}: pixels must be uint8 (0..255) or numbers in [0, 1]; "
                          f"these range from {lo:g} to {hi:g}")
    return values


def load_user_images(path: str | Path, shape: tuple[int, int], limit: int = USER_LIMIT) -> torch.Tensor:
    """A user's image set as ``(N, H·W)`` float32 rows in [0, 1], resized to ``shape`` when needed.

    ``path`` is a ``.npy`` file holding ``(N, H, W)`` images (or ``(N, H·W)`` rows of exactly
    ``shape``), an IDX image file (``*-idx3-ubyte`` or ``.gz``), or an MNIST-style folder (its
    test images). Pixels must be uint8 or numbers in [0, 1]. The first ``limit`` images are kept.
    Raises ``OODSetError`` (a ``ValueError``) or ``FileNotFoundError`` with a one-line message.
    """
    path = Path(str(path).strip()).expanduser()
    shape = tuple(shape)
    if not str(path) or str(path) == ".":
        raise OODSetError("name a .npy file, an IDX image file or an MNIST-format folder")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        split = load_mnist_folder(path, binarize=False, limit=limit)
        array = split.test.numpy().reshape(-1, *split.shape)
    elif path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise OODSetError(f"{path}: not a readable .npy array ({exc})") from exc
        if array.ndim == 2 and array.shape[1] == shape[0] * shape[1]:
            array = array.reshape(-1, *shape)
        if array.ndim != 3:
            raise OODSetError(f"{path}: expected images of shape (N, H, W) or (N, {shape[0] * shape[1]}), "
                              f"got {array.shape}")
    else:
        try:
            array = read_idx(path)
        except IDXFormatError as exc:
            raise OODSetError(f"{exc} (give a .npy file, an IDX image file or an MNIST-format folder)") from exc
        if array.ndim != 3:
            raise OODSetError(f"{path}: an IDX image file holds (N, H, W) images, this one has shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0 or array.shape[2] == 0:
        raise OODSetError(f"{path}: the set is empty (shape {array.shape})")
    images = _as_unit_images(array[:limit], str(path))
    if images.shape[1:] != shape:
        images = np.stack([np.clip(shrink(img, shape), 0.0, 1.0) for img in images])
    return torch.from_numpy(np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32))
