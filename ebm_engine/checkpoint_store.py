"""Where the app keeps checkpoints: one writable folder plus the read-only pretrained assets.

The app never reads or writes arbitrary paths: a checkpoint is named, the name is validated (no
path separators, no ``..``, nothing absolute) and resolved inside ``checkpoints_folder()``
(``EBM_LAB_CHECKPOINTS``; default ``checkpoints/`` at the repository root, or for an installed
package ``~/.local/share/ebm-lab/checkpoints``) or, with the ``pretrained:`` prefix, inside the
shipped ``assets/checkpoints/``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ebm_engine.assets import CHECKOUT, assets_folder, from_checkout, user_data_folder
from ebm_engine.checkpoints import SUFFIX, CheckpointError, read_header

ASSETS_FOLDER = assets_folder() / "checkpoints"
PRETRAINED = "pretrained:"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,79}$")


def checkpoints_folder() -> Path:
    """The writable folder (created on first use); site-packages is no place for user files."""
    default = CHECKOUT / "checkpoints" if from_checkout() else user_data_folder() / "checkpoints"
    return Path(os.environ.get("EBM_LAB_CHECKPOINTS") or default)


def validate_name(name: str) -> str:
    """The bare checkpoint name (suffix removed); raises CheckpointError on anything path-like."""
    name = str(name).strip()
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
    if not name:
        raise CheckpointError("give the checkpoint a name")
    if ".." in name or not NAME_PATTERN.match(name):   # the pattern has no separators: nothing path-like
        raise CheckpointError(f"checkpoint name {name!r} is not allowed: use letters, digits, '-', '_' and "
                              "'.' only (no folders)")
    return name


def path_for_saving(name: str) -> Path:
    folder = checkpoints_folder()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{validate_name(name)}{SUFFIX}"


def resolve(reference: str) -> Path:
    """The file a reference names: ``name`` in the checkpoints folder or ``pretrained:name`` in the assets."""
    reference = str(reference)
    folder = ASSETS_FOLDER if reference.startswith(PRETRAINED) else checkpoints_folder()
    path = folder / f"{validate_name(reference.removeprefix(PRETRAINED))}{SUFFIX}"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint named {reference!r}")
    return path


@dataclass(frozen=True)
class StoredCheckpoint:
    """One listed checkpoint: how to name it, where it is, and its header's key facts."""

    reference: str
    label: str
    model: str
    data: str | None
    step: int
    pretrained: bool


def _listing(folder: Path, pretrained: bool) -> list[StoredCheckpoint]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            header = read_header(path)
        except CheckpointError:
            continue
        name = path.name[: -len(SUFFIX)]
        reference = f"{PRETRAINED}{name}" if pretrained else name
        label = f"{'pretrained: ' if pretrained else ''}{name} ({header.get('data')}, step {header.get('step')})"
        found.append(StoredCheckpoint(reference, label, str(header.get("model")), header.get("data"),
                                      int(header.get("step", 0)), pretrained))
    return found


def list_checkpoints(models: tuple[str, ...] | None = None) -> list[StoredCheckpoint]:
    """Readable checkpoints of the given models: the user's first, then the pretrained ones."""
    every = _listing(checkpoints_folder(), False) + _listing(ASSETS_FOLDER, True)
    return [c for c in every if models is None or c.model in models]
