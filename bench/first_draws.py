"""Milliseconds from pressing Play on the Samplers page to the first moved chains on screen, with the
sampling pages compiling in the background (``EBM_LAB_COMPILE=auto``, the default) and without (``off``).

For each setting the lab is served as ``make lab`` serves it, a fresh browser session opens the
Samplers page and waits for its job, then ``performance.now()`` is read at the click on Play and
when the status bar's iteration count (``#ebm-step``, sent with the chains' positions in the same
snapshot) first changes, polled about every millisecond. Each setting is measured ``--repeats`` times, with the sampler and chain
count given (``--sampler``, ``--chains``); the compiler runs in a background thread meanwhile, so
its cost shows up here if it delays the first frames. Goal: under 100 ms with compiling on.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from bench.machine import cpu_model, load_average  # noqa: E402
from tests.ui.server import CHROMIUM, CHROMIUM_ARGS, served_lab  # noqa: E402

WATCH_JS = """() => {
  const deep = (root, selector) => {   // Panel renders its panes in shadow roots
    const hit = root.querySelector(selector);
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) { const inner = deep(el.shadowRoot, selector); if (inner) return inner; }
    }
    return null;
  };
  const text = () => { const step = deep(document, '#ebm-step'); return step ? step.textContent : null; };
  const before = text();
  window.__firstDraw = new Promise((resolve) => {
    window.addEventListener('click', () => {
      const start = performance.now();
      const poll = () => {   // about every millisecond: the resolution of the figure
        if (text() !== before) resolve(performance.now() - start); else setTimeout(poll, 1);
      };
      poll();
    }, {capture: true, once: true});
  });
}"""


def first_draw_ms(url: str, query: str) -> float:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{url}/main?page=Samplers&{query}", wait_until="networkidle", timeout=60000)
        expect(page.locator("#ebm-status")).not_to_have_attribute("data-state", "starting", timeout=60000)
        page.wait_for_timeout(1000)
        page.evaluate(WATCH_JS)
        page.get_by_role("button", name="Play").first.click()
        ms = page.evaluate("() => window.__firstDraw")
        browser.close()
    return ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sampler", default="hmc")
    ap.add_argument("--chains", type=int, default=256)
    args = ap.parse_args()
    print(f"machine: {cpu_model()}, load {load_average()}; Samplers, {args.sampler}, {args.chains} chains")
    query = f"sampler={args.sampler}&n_chains={args.chains}"
    results = {}
    for setting in ("auto", "off"):
        with served_lab({"EBM_LAB_COMPILE": setting}) as (url, _server):
            results[setting] = [first_draw_ms(url, query) for _ in range(args.repeats)]
        print(f"EBM_LAB_COMPILE={setting}: first moved chains {', '.join(f'{t:.0f}' for t in results[setting])} ms "
              f"(median {statistics.median(results[setting]):.0f})", flush=True)
    median = statistics.median(results["auto"])
    print(f"goal: first draws within 100 ms of Play with compiling on: {'PASS' if median <= 100 else 'FAIL'} "
          f"(median {median:.0f} ms); load {load_average()}")
    sys.exit(0 if median <= 100 else 1)


if __name__ == "__main__":
    main()
