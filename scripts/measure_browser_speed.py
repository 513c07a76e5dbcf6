"""Time "click Restore → A/B player ready" and "→ every metric shown" in headless Chromium.

``python scripts/measure_browser_speed.py [--method sbr] [--repeats 5]``

Starts the app here (tests/app_server.py), opens the Studio tab in Chromium (/usr/bin/chromium via
Playwright), loads a 10 s stereo 32 kHz clip (``assets/train_tune.flac`` tiled, as
scripts/measure_compare.py makes it), restores once to warm up, then ``--repeats`` times: click
Restore and read, in the page, the milliseconds from the click to the A/B player's
``data-ready="true"`` and to a metrics table with no "measuring…" cell. Prints the medians and
each run as Markdown, with the load average during the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from app_server import running_app  # noqa: E402
from measure_compare import make_clip  # noqa: E402

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="sbr")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="browser-speed-"))
    clip = make_clip(folder, 10.0)
    runs = []
    with running_app(folder, db=str(folder / "t.sqlite")) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(180_000)
        page.goto(url)
        page.wait_for_selector("#restore-button")
        page.set_input_files("#original-audio input[type=file]", clip)
        page.wait_for_selector("#original-audio audio, #original-audio .waveform-container", state="attached")
        field = page.locator("#method input")
        field.click()
        field.fill(args.method)
        page.get_by_role("option", name=args.method, exact=True).first.click()
        load = []
        for run in range(args.repeats + 1):  # the first run warms up
            page.evaluate(f"window.__expect = '#{run + 1} {args.method}'")
            times = page.evaluate(WATCH)
            load.append(os.getloadavg()[0])
            if run:
                runs.append(times)
        browser.close()
    ab = statistics.median(r["ab"] for r in runs) / 1000
    metrics = statistics.median(r["metrics"] for r in runs) / 1000
    print(f"| 10 s stereo 32 kHz clip, {args.method}, Chromium 1400×900, median of {args.repeats} | seconds |")
    print("|---|---|")
    print(f"| click Restore → A/B player ready | {ab:.2f} |")
    print(f"| click Restore → every metric shown | {metrics:.2f} |")
    print(f"\nruns (ms): {[(round(r['ab']), round(r['metrics'])) for r in runs]}; "
          f"load average (1 min) during the runs: {min(load):.1f}–{max(load):.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
