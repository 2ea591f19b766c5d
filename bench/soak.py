"""Soak run: the served lab with one browser session per page, every job playing, for ``--minutes``.

Every 10 s it samples the server's RSS and the engines' RSS and USS (memory unique to each
process: forked engines share the fork server's pages, which RSS would count once per engine),
the server's thread count and each session's iteration. It reports the growth of each memory
figure from the end of the warm-up (``--warmup``, 5 minutes) to the end, against the goal of at
most 10 %, checks that every session kept progressing and wrote the curve as CSV under
``bench/results/``.

The device gate applies as in any served lab: on a 2-core machine two jobs play at a time and the
others take turns (time slices), so every page runs for part of the soak.

Run: ``.venv/bin/python bench/soak.py`` (30 minutes) or ``--minutes 8``.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from bench.machine import cpu_model, load_average  # noqa: E402
from tests.ui.server import CHROMIUM, CHROMIUM_ARGS, served_lab  # noqa: E402

PAGES = ["Energy Landscape", "Samplers", "Constraints", "RBM", "Images", "JEM & OOD", "Score Matching",
         "Symmetry & Latents"]
SAMPLE_S = 10.0


def parent_of(process: psutil.Process) -> int | None:
    """The parent pid, or None for a process that has just exited."""
    try:
        return process.ppid()
    except psutil.Error:
        return None


def memory(server: psutil.Process) -> dict[str, float]:
    engines = [p for p in server.children(recursive=True) if parent_of(p) not in (server.pid, None)]
    eng_rss = eng_uss = 0
    for p in engines:
        try:
            info = p.memory_full_info()
            eng_rss += info.rss
            eng_uss += info.uss
        except psutil.Error:
            pass
    mb = 2 ** 20
    return {"server_rss_mb": server.memory_info().rss / mb, "engines_rss_mb": eng_rss / mb,
            "engines_uss_mb": eng_uss / mb, "engines": len(engines), "server_threads": server.num_threads()}


def open_sessions(browser, url: str) -> list:
    pages = []
    for name in PAGES:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.errors = []
        page.on("console", lambda m, p=page: p.errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/main?page={name}", wait_until="domcontentloaded", timeout=120000)
        pages.append(page)
    for page in pages:
        expect(page.locator("#ebm-status")).not_to_have_attribute("data-state", "starting", timeout=120000)
        page.get_by_role("button", name="Play").first.click()
    samplers = pages[PAGES.index("Samplers")]
    samplers.get_by_text("Race", exact=True).click()
    samplers.get_by_role("button", name="Play").nth(1).click()
    samplers.get_by_text("Explore", exact=True).click()
    return pages


def iterations(pages) -> list[int]:
    out = []
    for page in pages:
        try:
            out.append(int(page.locator("#ebm-step").inner_text(timeout=5000)))
        except Exception:
            out.append(-1)
    return out


def growth(rows: list[dict], key: str, warmup_s: float) -> tuple[float, float, float]:
    after = [r for r in rows if r["t_s"] >= warmup_s] or rows[-1:]
    start, end = after[0][key], rows[-1][key]
    peak = max(r[key] for r in after)
    return start, end, 100.0 * (peak - start) / start if start else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes before growth is measured")
    args = parser.parse_args()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    out = ROOT / "bench" / "results" / f"soak-{stamp}-{args.minutes:g}min.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"soak: {len(PAGES)} sessions (+ the Race), every job playing, {args.minutes:g} minutes")
    print(f"cpu: {cpu_model()} ({psutil.cpu_count()} cores); load average at start: {load_average()}")
    rows: list[dict] = []
    with served_lab() as (url, server_popen), sync_playwright() as pw:
        server = psutil.Process(server_popen.pid)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        pages = open_sessions(browser, url)
        first = iterations(pages)
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < args.minutes * 60:
            row = {"t_s": round(elapsed, 1), **memory(server)}
            row["iterations"] = " ".join(map(str, iterations(pages)))
            row["load1"] = round(psutil.getloadavg()[0], 2)
            rows.append(row)
            print(f"{row['t_s']:7.0f}s  server {row['server_rss_mb']:6.0f} MB  engines RSS "
                  f"{row['engines_rss_mb']:6.0f} MB USS {row['engines_uss_mb']:6.0f} MB  "
                  f"threads {row['server_threads']}  load {row['load1']}", flush=True)
            time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - t0 - elapsed)))
        last = iterations(pages)
        errors = sum(len(p.errors) for p in pages)
        browser.close()
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nload average at end: {load_average()}; curve written to {out.relative_to(ROOT)}")
    ok = True
    for key in ("server_rss_mb", "engines_uss_mb", "engines_rss_mb"):
        start, end, peak_growth = growth(rows, key, args.warmup * 60)
        ok &= peak_growth <= 10.0
        print(f"{key:16} at {args.warmup:g} min {start:7.0f} MB, at end {end:7.0f} MB, "
              f"peak growth after warm-up {peak_growth:+5.1f} %")
    progressed = [b > a >= 0 for a, b in zip(first, last)]
    print("iterations per page:", ", ".join(f"{n} {a}->{b}" for n, a, b in zip(PAGES, first, last)))
    print(f"console errors: {errors}")
    ok &= all(progressed) and errors == 0
    print(f"goal (memory growth <= 10 % after warm-up, every page progressing, no errors): "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
