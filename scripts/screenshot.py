"""Make docs/screenshot.png: the Studio tab at 1400 px in headless Chromium after restoring a clip.

``python scripts/screenshot.py [--method unet] [--clip assets/whistle_tune.flac] [--out docs/screenshot.png]``

Starts the app here (tests/app_server.py), loads ``--clip`` with its clean reference when
``assets/<clip>_clean_reference.flac`` exists, restores it with ``--method`` (the app's default,
``unet``), waits until every metric is shown and saves the page from the top to the end of the
metrics table, as a 256-colour PNG (a third of the size; the pictures look the same).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from app_server import running_app  # noqa: E402
from measure_browser_speed import open_studio, upload  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="unet")
    parser.add_argument("--clip", default=str(ROOT / "assets" / "whistle_tune.flac"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    clip = Path(args.clip)
    reference = clip.with_name(f"{clip.stem}_clean_reference{clip.suffix}")
    folder = Path(tempfile.mkdtemp(prefix="screenshot-"))
    with running_app(folder, db=str(folder / "t.sqlite")) as url, sync_playwright() as playwright:
        browser, page = open_studio(playwright, url, args.method, timeout_ms=180_000)
        if reference.exists():
            page.set_input_files("#reference-audio input[type=file]", str(reference))
        upload(page, str(clip))
        page.locator("#restore-button").click()
        page.wait_for_function("""() => { const t = document.querySelector('#metrics');
            const ab = document.querySelector('#ab-player .ab');
            return t && t.textContent.includes('#1') && !t.textContent.includes('measuring')
                && ab && ab.getAttribute('data-ready') === 'true'; }""")
        page.wait_for_timeout(1000)
        bottom = page.evaluate("() => { const r = document.querySelector('#metrics').getBoundingClientRect();"
                               " return r.bottom + window.scrollY + 16; }")
        page.screenshot(path=args.out, clip={"x": 0, "y": 0, "width": 1400, "height": bottom}, full_page=True)
        browser.close()
    from PIL import Image

    with Image.open(args.out) as shot:
        palette = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
