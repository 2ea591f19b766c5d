"""The lab's page registry: each page registers itself with one line, the shell builds the navigation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class PageEntry:
    """A navigation entry: the page's name and a factory taking the session."""

    name: str
    factory: Callable


PAGES: list[PageEntry] = []


def register_page(name: str, factory: Callable) -> None:
    """Add a page to the navigation (registering the same name twice replaces the entry)."""
    PAGES[:] = [p for p in PAGES if p.name != name]
    PAGES.append(PageEntry(name, factory))
