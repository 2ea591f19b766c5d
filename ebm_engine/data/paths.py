"""The folders the lab may read user files from, and the check every user-given path goes through.

A served lab takes folder and file names typed into the browser (an MNIST-format folder, an OOD
set). It reads them only inside its data folders: ``data/`` of the lab's checkout,
``~/ebm-lab-data``, and any folder listed in ``EBM_LAB_DATA_DIRS`` (separated by ``os.pathsep``),
plus its checkpoint folder (``checkpoint_store.checkpoints_folder``).
Relative names are taken inside the first data folder. ``..`` and symbolic links are resolved
before the check, so neither leads outside. The check touches no file, so a refusal says nothing
about what exists outside.
"""
from __future__ import annotations

import os
from pathlib import Path

from ebm_engine.assets import CHECKOUT
from ebm_engine.checkpoint_store import checkpoints_folder


class OutsideDataFolders(PermissionError, ValueError):
    """A path the lab refuses to read: it lies outside the data and checkpoint folders."""


def data_folders() -> list[Path]:
    """Where user data may live, in order; the first one anchors relative names."""
    extra = [Path(p).expanduser() for p in os.environ.get("EBM_LAB_DATA_DIRS", "").split(os.pathsep) if p.strip()]
    return [CHECKOUT / "data", Path.home() / "ebm-lab-data", *extra]


def resolve_user_path(text: str) -> Path:
    """``text`` as an absolute path inside the lab's data or checkpoint folders, else ``OutsideDataFolders``."""
    if not isinstance(text, (str, os.PathLike)):
        raise ValueError(f"a file or folder name must be text, got {type(text).__name__}")
    raw = str(text).strip()
    if not raw:
        raise ValueError("name a file or folder first")
    if "\x00" in raw:
        raise ValueError("a file or folder name cannot contain a NUL character")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = data_folders()[0] / path
    resolved = path.resolve()
    for folder in [*data_folders(), checkpoints_folder().expanduser()]:
        if resolved.is_relative_to(folder.resolve()):
            return resolved
    names = ", ".join(str(f) for f in data_folders())
    raise OutsideDataFolders(f"{raw!r} is outside the lab's data folders ({names}); move the files into one "
                             "of them, or add their folder to EBM_LAB_DATA_DIRS before starting the lab")
