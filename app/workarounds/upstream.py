"""What a workaround was written against: the versions of a package it patches, and that code's fingerprints.

A workaround installs itself only where every package it patches is installed in a version it was
written against (``applies``); elsewhere it logs one warning and leaves the package alone. The
fingerprints name the upstream functions a workaround patches or relies on; the tests compare them
with the installed code (``tests/app/workarounds/test_written_against.py``), so an upgrade that
changes one fails a test that names it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import metadata

from packaging.version import InvalidVersion, Version

log = logging.getLogger(__name__)
_warned: set[str] = set()


@dataclass(frozen=True)
class WrittenAgainst:
    """``minimum <= package < below``; ``sources`` maps an upstream function to the fingerprint of its
    source in version ``checked``, the last one the workaround was checked against.

    A Python function is named ``module:Qualified.name``; a BokehJS one ``bokeh.js:module/path.js:Class.method``
    (the unminified bundle shipped in ``bokeh/server/static/js``)."""

    package: str
    minimum: str
    below: str
    checked: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    def installed(self) -> str | None:
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return None

    def fits(self) -> bool:
        installed = self.installed()
        try:
            return installed is not None and Version(self.minimum) <= Version(installed) < Version(self.below)
        except InvalidVersion:
            return False

    def __str__(self) -> str:
        return f"{self.minimum} <= {self.package} < {self.below}"


def applies(workaround: str, *requirements: WrittenAgainst) -> bool:
    """Whether ``workaround`` may be installed here; logs one warning per workaround and process if not."""
    misfits = [r for r in requirements if not r.fits()]
    if misfits and workaround not in _warned:
        _warned.add(workaround)
        found = ", ".join(f"{r.package} {r.installed() or 'missing'} (written for {r})" for r in misfits)
        log.warning("EBM Lab: workaround %s not installed: %s", workaround, found)
    return not misfits
