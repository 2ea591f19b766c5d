"""Eight browser sessions at once on the served lab, each playing a job, then closed one by one.

It reports, per session, the iterations made over ``--seconds`` of play and the states seen
(playing, or queued behind the device limit), the console errors, the memory of the server and
its engines, and for every closed tab the seconds until its engine process had exited and the
server's thread count was back down (goal: within 2 s). Baseline in the same run: the same
session count's first-snapshot time is printed beside the close times for scale.

Run: ``.venv/bin/python bench/many_sessions.py`` (about 3 minutes); ``--sessions``, ``--seconds``,
``--page`` change the set-up. The device limit is the served lab's (``EBM_LAB_JOBS_PER_DEVICE``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from bench.machine import cpu_model, load_average  # noqa: E402
from tests.ui.server import CHROMIUM, CHROMIUM_ARGS, served_lab  # noqa: E402


def parent_of(process: psutil.Process) -> int | None:
    """The parent pid, or None for a process that has just exited."""
    try:
        return process.ppid()
    except psutil.Error:
        return None


def engines(server: psutil.Process) -> list[psutil.Process]:
    return [p for p in server.children(recursive=True) if parent_of(p) not in (server.pid, None)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=40.0, help="seconds of play before closing")
    parser.add_argument("--page", default="Samplers")
    args = parser.parse_args()
    print(f"many_sessions: {args.sessions} sessions on the {args.page} page, {args.seconds:g} s of play")
    print(f"cpu: {cpu_model()} ({psutil.cpu_count()} cores); load average at start: {load_average()}")
    with served_lab() as (url, server_popen), sync_playwright() as pw:
        server = psutil.Process(server_popen.pid)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        threads0 = server.num_threads()
        pages, errors = [], []
        t0 = time.monotonic()
        for _ in range(args.sessions):
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{url}/main?page={args.page}", wait_until="domcontentloaded", timeout=120000)
            pages.append(page)
        for page in pages:
            expect(page.locator("#ebm-status")).not_to_have_attribute("data-state", "starting", timeout=120000)
        opened = time.monotonic() - t0
        for page in pages:
            page.get_by_role("button", name="Play").first.click()
        start = [int(p.locator("#ebm-step").inner_text()) for p in pages]
        states: list[set] = [set() for _ in pages]
        end_at = time.monotonic() + args.seconds
        while time.monotonic() < end_at:
            for seen, page in zip(states, pages):
                seen.add(page.locator("#ebm-status").get_attribute("data-state"))
            time.sleep(0.5)
        made = [int(p.locator("#ebm-step").inner_text()) - s for p, s in zip(pages, start)]
        memory = (server.memory_info().rss + sum(p.memory_info().rss for p in engines(server))) / 2**20
        threads_open = server.num_threads()
        closes = []
        for page in pages:
            n_engines, n_threads = len(engines(server)), server.num_threads()
            t = time.monotonic()
            page.context.close()
            gone = thread_back = None
            while time.monotonic() - t < 15 and (gone is None or thread_back is None):
                if gone is None and len(engines(server)) < n_engines:
                    gone = time.monotonic() - t
                if thread_back is None and server.num_threads() < n_threads:
                    thread_back = time.monotonic() - t
                time.sleep(0.01)
            closes.append((gone, thread_back))
        threads_end = server.num_threads()
        browser.close()
    print(f"load average at end: {load_average()}")
    print(f"\nsessions open and first snapshot shown: {opened:.1f} s for {args.sessions}")
    print(f"server + engines RSS with all sessions playing: {memory:.0f} MB; server threads {threads0} before, "
          f"{threads_open} open, {threads_end} after closing all")
    print(f"\n{'session':>7} {'iterations':>10}  states seen")
    for i, (n, seen) in enumerate(zip(made, states)):
        print(f"{i:7d} {n:10d}  {', '.join(sorted(s for s in seen if s))}")
    print(f"\n{'closed':>7} {'engine gone s':>13} {'thread gone s':>13}")
    for i, (gone, back) in enumerate(closes):
        fmt = lambda v: f"{v:13.2f}" if v is not None else f"{'>15':>13}"  # noqa: E731
        print(f"{i:7d} {fmt(gone)} {fmt(back)}")
    worst = max((g or 99) for g, _ in closes)
    worst_threads = max((b or 99) for _, b in closes)
    ok = min(made) > 0 and not errors and worst <= 2.0 and worst_threads <= 2.0 and threads_end <= threads0
    print(f"\nconsole errors: {len(errors)}; slowest close: engine {worst:.2f} s, thread {worst_threads:.2f} s")
    print(f"goals (every session progresses, no errors, closed tabs free engine and threads within 2 s): "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
