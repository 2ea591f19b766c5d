"""Where the lab's read-only files are: ``assets/`` of a checkout, or the copy an installed wheel holds.

A wheel ships the checkout's ``assets/`` folder as the data-only package ``ebm_lab_assets``
(see ``pyproject.toml``); a checkout (also one installed with ``pip install -e``) reads its own folder.
"""
from __future__ import annotations

import os
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
PACKAGE = "ebm_lab_assets"


def from_checkout() -> bool:
    """True when the engine runs from a source checkout (site-packages has no ``pyproject.toml``)."""
    return (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "assets").is_dir()


@lru_cache(maxsize=None)
def assets_folder() -> Path:
    """The folder holding ``lab.css``, ``logo.svg``, ``teaching/`` and ``checkpoints/``."""
    if from_checkout():
        return CHECKOUT / "assets"
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the lab's assets are missing: neither {CHECKOUT / 'assets'} nor an installed "
                                f"{PACKAGE} package exists (reinstall ebm-lab)")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def user_data_folder() -> Path:
    """Where an installed lab keeps what it writes: ``$XDG_DATA_HOME/ebm-lab`` (``~/.local/share/ebm-lab``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "ebm-lab"
