"""Take the README's screenshots: one PNG per page, at 1440×900, a few seconds after pressing Play.

The lab is served as ``make lab`` serves it (``tests/ui/server.py``: ``served_lab``) and each page is
opened in a fresh session of Debian's Chromium (``EBM_LAB_CHROMIUM`` chooses another binary) with
Playwright. The page is opened by its link (``/main?page=<name>``), its engine job is waited for,
Play is pressed, and after ``--seconds`` the window is saved as ``docs/screenshots/<slug>.png``.

Run from the repository root:

    .venv/bin/python tools/screenshots.py                       # every page
    .venv/bin/python tools/screenshots.py --pages "RBM,Images" --seconds 10

Timings depend on the machine: on a busy 2-core machine give the models more seconds.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.ui.server import CHROMIUM, CHROMIUM_ARGS, served_lab  # noqa: E402

PAGES = ("Energy Landscape", "Samplers", "Constraints", "RBM", "Images", "JEM & OOD", "Score Matching",
         "Symmetry & Latents")
VIEWPORT = {"width": 1440, "height": 900}


def slug(name: str) -> str:
    """The file name of a page's screenshot: ``JEM & OOD`` -> ``jem-ood``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def take(browser, url: str, name: str, seconds: float, out: Path) -> Path:
    """Open ``name`` in a fresh session, press Play, wait ``seconds`` and save the window."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{url}/main?page={quote(name)}", wait_until="domcontentloaded", timeout=120_000)
        status = page.locator("#ebm-status")
        expect(page.get_by_role("button", name="Play").first).to_be_visible(timeout=120_000)
        expect(status).to_contain_text(name, timeout=60_000)
        expect(status).not_to_have_attribute("data-state", "starting", timeout=120_000)
        page.get_by_role("button", name="Play").first.click()
        time.sleep(seconds)
        path = out / f"{slug(name)}.png"
        page.screenshot(path=str(path))
        return path
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated page names (default: all)")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of play before each picture")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.pages.split(",") if n.strip()]
    unknown = [n for n in names if n not in PAGES]
    if unknown:
        parser.error(f"unknown page(s) {unknown}; known: {list(PAGES)}")
    if not Path(CHROMIUM).exists():
        parser.error(f"Chromium not found at {CHROMIUM}: install Debian's chromium or set EBM_LAB_CHROMIUM")
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with served_lab() as (url, _server), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for name in names:
                print(f"{name}: {take(browser, url, name, args.seconds, args.out)}", flush=True)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
