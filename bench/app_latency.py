"""Responsiveness of the served lab while each page trains, measured in headless Chromium.

For every page (a fresh browser session each, its job playing):

- knob latency: a slider is moved one step with the keyboard; the time from the key press to the
  moment the browser receives the first snapshot made with the new value (the status bar's
  ``data-knobs``, or a Race plot title, which arrive in the same server message as that snapshot's
  plot patches). Timed in the browser with ``performance.now()``; median and 95th percentile.
- frames per second delivered to each live plot: server messages that change a plot's data sources,
  counted in the browser over a window (one message counts one frame per plot, however many of its
  sources it changes; plots send only data that changed: a plot whose data stood still is not counted).
- server CPU (percent of one core) and memory (RSS of the server plus its engine processes).

The baseline, measured in the same run on the same page, is the knob latency while the job is
paused (the engine answers a knob change at once); the table prints training/paused as a ratio.
Goals: median <= 150 ms and >= 10 frames/s per live plot while training.

Run: ``.venv/bin/python bench/app_latency.py`` (about 5 minutes), ``--quick`` for fewer presses.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from bench.machine import cpu_model, load_average  # noqa: E402
from tests.ui.helpers import slider_handle  # noqa: E402
from tests.ui.server import CHROMIUM, CHROMIUM_ARGS, served_lab  # noqa: E402


def status_knob(name: str) -> str:
    """Pattern of knob ``name``'s value in the status bar's ``data-knobs`` (HTML-escaped in the pane's
    text). Only the status bar counts: the page's address (``?temperature=…``) is written by the server
    as soon as the slider moves, before the engine has made anything with the new value."""
    return rf'data-knobs=(?:&quot;|")(?:[^&"]*;)?{name}=([^;&"]+)'


# page, slider label, knob echo pattern (a regex with one group over strings the server sends)
PAGES = [
    ("Energy Landscape", "Temperature T", status_knob("temperature")),
    ("Samplers", "Temperature T", status_knob("temperature")),
    ("Race", "Temperature T", r"(?:Langevin \(ULA\)|MALA|HMC) at T = ([0-9.e+-]+)"),
    ("Constraints", "Temperature T", status_knob("temperature")),
    ("RBM", "Sampling temperature", status_knob("temperature")),
    ("Images", "Temperature", status_knob("temperature")),
    ("JEM & OOD", "Energy temperature T", status_knob("temperature")),
    ("Score Matching", "Noise level σ", status_knob("sigma")),
    ("Symmetry & Latents", "Group order n", status_knob("group_order")),
]

# sliders inside a collapsed card, and the card's title to click first (once per page)
REVEAL_BY_PAGE = {"Constraints": ("Temperature T", "Sampler settings")}
# where to look for the slider's label when another slider of the page has the same label
# (the Race's temperature sits in the main area; the sidebar holds the Samplers' own)
SCOPE_BY_PAGE = {"Race": "#main"}
REVEAL: dict[str, str] = {}

WATCH_JS = r"""
(pattern) => {
  const re = new RegExp(pattern);
  const w = window.__ebm = {changes: [], frames: {}, keys: []};
  document.addEventListener('keydown', () => w.keys.push(performance.now()), true);
  const plotOf = {};
  const doc = window.Bokeh.documents[0];
  // a plot without a title is named by its axis labels (then its id)
  const axes = (p) => [...(p.left || []), ...(p.below || [])].map((a) => a.axis_label).filter(Boolean);
  const title = (p) => (p.title && p.title.text) || p.name || (axes(p).length ? `[${axes(p).join(' / ')}]` : p.id);
  for (const m of doc.all_models) {
    if (m.renderers && m.toolbar) {   // plots only: a tool's renderers belong to its plot
      for (const r of m.renderers) if (r.data_source) plotOf[r.data_source.id] = title(m);
    }
  }
  const seen = (text) => {
    if (typeof text !== 'string') return;
    const m = text.match(re);
    if (m) w.changes.push([performance.now(), m[1]]);
  };
  // One server message is applied in one synchronous task: the plots it touches count one frame
  // each, however many of their data sources changed.
  let framed = null;
  doc.on_change((ev) => {
    const model = ev.model || (ev.column_source);
    if (model && plotOf[model.id] !== undefined && (ev.column_source !== undefined || ev.attr === 'data')) {
      const p = plotOf[model.id];
      if (framed === null) { framed = new Set(); queueMicrotask(() => { framed = null; }); }
      if (!framed.has(p)) {
        framed.add(p);
        w.frames[p] = (w.frames[p] || []);
        w.frames[p].push(performance.now());
      }
    }
    if (ev.attr !== undefined) seen(ev.value !== undefined ? ev.value : ev.new_);
  }, true);
}
"""


def engine_tree(server: psutil.Process) -> list[psutil.Process]:
    return [server, *server.children(recursive=True)]


def rss_mb(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def knob_latencies(page, label: str, presses: int, within: str | None = None) -> list[float]:
    """Press an arrow key on the slider ``presses`` times; ms from each press to the new value's echo."""
    if label in REVEAL:
        page.get_by_text(REVEAL[label], exact=True).first.click()   # open the collapsed card
        page.wait_for_timeout(500)
        REVEAL.pop(label)
    handle = slider_handle(page, label, within)
    handle.scroll_into_view_if_needed()
    handle.focus()
    out = []
    for i in range(presses):
        before = page.evaluate("() => { const c = window.__ebm.changes; return c.length ? c[c.length-1][1] : null }")
        n_keys = page.evaluate("() => window.__ebm.keys.length")
        handle.press("ArrowRight" if (i // 3) % 2 == 0 else "ArrowLeft")
        page.wait_for_timeout(50)
        end = time.monotonic() + 5.0
        latency = None
        while time.monotonic() < end:
            latency = page.evaluate(
                """([before, k]) => { const w = window.__ebm; const t0 = w.keys[k]; if (t0 === undefined) return null;
                   for (const [t, v] of w.changes) if (t > t0 && v !== before) return t - t0; return null; }""",
                [before, n_keys])
            if latency is not None:
                break
            page.wait_for_timeout(20)
        if latency is not None:
            out.append(latency)
        page.wait_for_timeout(250)
    return out


def frame_rates(page, seconds: float) -> dict[str, float]:
    page.evaluate("() => { window.__ebm.frames = {}; }")
    page.wait_for_timeout(int(seconds * 1000))
    frames = page.evaluate("() => window.__ebm.frames")
    return {name: len(ts) / seconds for name, ts in frames.items()}


def press_play(page, name: str) -> None:
    page.get_by_role("button", name="Play").nth(1 if name == "Race" else 0).click()
    if name != "Race":   # the status bar follows the Samplers job, not the race
        expect(page.locator("#ebm-status")).to_have_attribute("data-state", "playing", timeout=30000)


def open_page(browser, url: str, name: str):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    target = "Samplers" if name == "Race" else name
    page.goto(f"{url}/main?page={quote(target)}", wait_until="domcontentloaded", timeout=90000)
    expect(page.locator("#ebm-status")).not_to_have_attribute("data-state", "starting", timeout=90000)
    if name == "Race":
        page.get_by_text("Race", exact=True).click()
        page.get_by_role("button", name="Play").nth(1).click()   # the race has a status of its own:
        page.wait_for_timeout(500)                                 # play and pause it once so it
        page.get_by_role("button", name="Pause").nth(1).click()    # has sent its plots
    return page, errors


def measure_page(browser, url, server, name, label, pattern, presses, window) -> dict:
    """One page in a fresh session: knob latency paused and playing, frame rates, CPU and memory."""
    page, errors = open_page(browser, url, name)
    REVEAL.clear()
    if name in REVEAL_BY_PAGE:
        REVEAL.update([REVEAL_BY_PAGE[name]])
    try:
        page.evaluate(WATCH_JS, pattern)
        within = SCOPE_BY_PAGE.get(name)
        idle = knob_latencies(page, label, max(3, presses // 3), within)
        press_play(page, name)
        page.wait_for_timeout(2000)                         # let training settle
        procs = engine_tree(server)
        for p in procs:
            p.cpu_percent(None)
        fps = frame_rates(page, window)
        cpu = server.cpu_percent(None)
        engine_cpu = sum(p.cpu_percent(None) for p in procs[1:] if p.is_running())
        lat = knob_latencies(page, label, presses, within)
        rate = page.locator("#ebm-rate").inner_text()
        live = {k: v for k, v in fps.items() if v >= 0.5}
        return {"page": name, "lat": lat, "idle": idle, "fps": live, "cpu": cpu, "engine_cpu": engine_cpu,
                "rss": rss_mb(engine_tree(server)), "rate": rate, "errors": len(errors)}
    finally:
        page.context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 presses and a 3 s frame window per page")
    parser.add_argument("--pages", default="", help="comma-separated subset of pages")
    args = parser.parse_args()
    presses, window = (6, 3.0) if args.quick else (20, 6.0)
    wanted = [p for p in PAGES if not args.pages or p[0] in args.pages.split(",")]
    print("app_latency: knob -> browser latency and live-plot frame rates while each page trains")
    print(f"cpu: {cpu_model()} ({psutil.cpu_count()} cores); load average at start: {load_average()}")
    rows = []
    with served_lab() as (url, server_popen), sync_playwright() as pw:
        server = psutil.Process(server_popen.pid)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for name, label, pattern in wanted:
            try:
                rows.append(measure_page(browser, url, server, name, label, pattern, presses, window))
            except Exception as exc:   # report the page as failed, measure the others
                print(f"{name}: measurement failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                rows.append({"page": name, "lat": [], "idle": [], "fps": {}, "cpu": float("nan"),
                             "engine_cpu": float("nan"), "rss": float("nan"), "rate": "-", "errors": -1})
            time.sleep(1.0)
        browser.close()

    print(f"load average at end: {load_average()}\n")
    head = f"{'page':20} {'median ms':>9} {'p95 ms':>7} {'n':>3} {'paused ms':>9} {'ratio':>5} {'min fps':>7} {'plots':>5} " \
           f"{'srv cpu%':>8} {'eng cpu%':>8} {'RSS MB':>7} {'steps/s':>7} {'errors':>6}"
    print(head)
    print("-" * len(head))
    ok = True
    for r in rows:
        lat = sorted(r["lat"])
        med = statistics.median(lat) if lat else float("nan")
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else float("nan")
        low = min(r["fps"].values()) if r["fps"] else float("nan")
        ok &= bool(lat) and med <= 150 and low >= 10
        idle = statistics.median(r["idle"]) if r["idle"] else float("nan")
        print(f"{r['page']:20} {med:9.0f} {p95:7.0f} {len(lat):3d} {idle:9.0f} {med / idle:5.1f} {low:7.1f} {len(r['fps']):5d} "
              f"{r['cpu']:8.0f} {r['engine_cpu']:8.0f} {r['rss']:7.0f} {r['rate']:>7} {r['errors']:6d}")
    print("\nframes/s per live plot:")
    for r in rows:
        print(f"  {r['page']}: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["fps"].items())))
    print(f"\ngoals (median <= 150 ms, >= 10 frames/s per live plot): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
