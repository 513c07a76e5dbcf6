"""Time "click Restore → A/B player ready" and "→ every metric shown" in headless Chromium.

``python scripts/measure_browser_speed.py [--method sbr] [--repeats 5]``

Starts the app here (tests/app_server.py), opens the Studio tab in Chromium (/usr/bin/chromium via
Playwright), restores once to warm up, then ``--repeats`` times: loads a new 10 s stereo 32 kHz clip
(``assets/train_tune.flac`` tiled, as scripts/measure_compare.py makes it, at a gain of its own,
so neither the browser nor the A/B player has any of its audio yet), clicks Restore and reads, in
the page, the milliseconds from the click to the A/B player's ``data-ready="true"`` and to a
metrics table with no "measuring…" cell. ``--same-clip`` restores one upload every time instead
(the player then reuses the original's decoded audio). Prints the medians and each run as
Markdown, the load average during the runs and the server's per-stage timings from its log.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
from app_server import running_app  # noqa: E402
from measure_compare import make_clip  # noqa: E402

from restoration import load_audio, save_audio  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
#: Installed before each click: resolves with the ms from the click to the player ready and to every metric shown.
WATCH = """() => new Promise((resolve) => {
  const start = performance.now(); const seen = {};
  const player = document.querySelector('#ab-player .ab');
  const check = () => {
    if (seen.ab === undefined && player && player.getAttribute('data-ready') === 'true'
        && document.querySelector('#ab-player .ab-caption').textContent.includes(window.__expect)) seen.ab = performance.now() - start;
    const table = document.querySelector('#metrics');
    if (seen.ab !== undefined && seen.metrics === undefined && table && !table.textContent.includes('measuring')
        && table.textContent.includes(window.__expect)) seen.metrics = performance.now() - start;
    if (seen.ab !== undefined && seen.metrics !== undefined) { observer.disconnect(); resolve(seen); }
  };
  const observer = new MutationObserver(check);
  observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  document.querySelector('#restore-button').click();
})"""


def open_studio(playwright, url: str, method: str, timeout_ms: int = 60_000):
    """Headless Chromium at 1400×900 on the Studio tab with ``method`` chosen; returns (browser, page)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(timeout_ms)
    page.goto(url)
    page.wait_for_selector("#restore-button")
    field = page.locator("#method input")
    field.click()
    field.fill(method)
    page.get_by_role("option", name=method, exact=True).first.click()
    return browser, page


def clips(folder: Path, count: int) -> list[str]:
    """``count`` 10 s clips with different samples (gains 1, 0.99, 0.98, ...)."""
    y, sr = load_audio(make_clip(folder, 10.0))
    return [str(save_audio(folder / f"clip_{run}.wav", (1.0 - 0.01 * run) * y, sr)) for run in range(count)]


def upload(page, clip: str) -> None:
    """Load ``clip`` into 1 · Source (clearing the one shown) and wait until the upload and its change event are over."""
    if not page.locator("#original-audio input[type=file]").count():
        page.locator("#original-audio button[aria-label='Clear']").first.click()
    page.set_input_files("#original-audio input[type=file]", clip)
    page.wait_for_selector("#original-audio audio, #original-audio .waveform-container", state="attached")
    page.wait_for_timeout(1500)


def stage_timings(folder: Path) -> str:
    """Medians of the server's per-stage timings (studio.workbench logs one line per restore and details)."""
    text = "".join(log.read_text() for log in folder.glob("app-*.log"))
    stages = [tuple(map(float, found)) for found in re.findall(
        r"restored in ([\d.]+) s, saved in ([\d.]+) s, first paint in ([\d.]+) s", text)][1:]
    details = [float(x) for x in re.findall(r"details of .*: ([\d.]+) s", text)][1:]
    if not stages:
        return "server log: no stage timings"
    restore_s, save_s, paint_s = (statistics.median(column) for column in zip(*stages))
    return (f"server (median): restore {restore_s:.2f} s, save {save_s:.2f} s, first paint {paint_s:.2f} s, "
            f"details request {statistics.median(details):.2f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="sbr")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--same-clip", action="store_true", help="restore one upload every time")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="browser-speed-"))
    uploads = clips(folder, 1 if args.same_clip else args.repeats + 1)
    runs = []
    with running_app(folder, db=str(folder / "t.sqlite")) as url, sync_playwright() as playwright:
        browser, page = open_studio(playwright, url, args.method)
        load = []
        for run in range(args.repeats + 1):  # the first run warms up
            if run < len(uploads):
                upload(page, uploads[run])
            page.evaluate(f"window.__expect = '#{run + 1} {args.method}'")
            times = page.evaluate(WATCH)
            load.append(os.getloadavg()[0])
            if run:
                runs.append(times)
        browser.close()
    ab = statistics.median(r["ab"] for r in runs) / 1000
    metrics = statistics.median(r["metrics"] for r in runs) / 1000
    clip = "the same upload each time" if args.same_clip else "a new upload each time"
    print(f"| 10 s stereo 32 kHz clip ({clip}), {args.method}, Chromium 1400×900, median of {args.repeats} | seconds |")
    print("|---|---|")
    print(f"| click Restore → A/B player ready | {ab:.2f} |")
    print(f"| click Restore → every metric shown | {metrics:.2f} |")
    print(f"\nruns (ms): {[(round(r['ab']), round(r['metrics'])) for r in runs]}; "
          f"load average (1 min) during the runs: {min(load):.1f}–{max(load):.1f} on {os.cpu_count()} CPUs")
    print(stage_timings(folder))


if __name__ == "__main__":
    main()
