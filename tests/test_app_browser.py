"""The app in headless Chromium: upload, pick a method, restore, compare, switch A/B, and see errors."""

import re
from pathlib import Path

import pytest

from app_server import running_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
CLIP = Path(__file__).resolve().parents[1] / "assets" / "train_tune.flac"
TIMEOUT_MS = 180_000

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-app")
    with running_app(folder, db=str(folder / "listening.sqlite")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


def open_studio(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#restore-button")
    return page


def restore(page, method):
    page.set_input_files("#original-audio input[type=file]", str(CLIP))
    page.wait_for_selector("#original-audio audio, #original-audio .waveform-container", state="attached")
    page.locator("#method input").click()
    page.get_by_role("option", name=method, exact=True).click()
    page.click("#restore-button")


def test_restore_compare_and_switch(browser, app_url, tmp_path):
    from playwright.sync_api import expect

    page = open_studio(browser, app_url)
    restore(page, "sbr")
    ab = page.locator("#ab-player .ab")
    expect(ab).to_have_attribute("data-ready", "true", timeout=TIMEOUT_MS)
    expect(page.locator("#restore-report")).to_contain_text("32000 Hz → 48000 Hz")
    expect(page.locator("#restored-audio")).to_contain_text("0:06")
    for plot in ("#spectrograms", "#difference", "#psd"):
        expect(page.locator(f"{plot} img")).to_have_attribute("src", re.compile(r"\.png$"))
    metrics = page.locator("#metrics")
    for name in ("lufs", "cutoff_hz", "logmel_original_vs_restored"):
        expect(metrics).to_contain_text(name)
    expect(page.locator("#ab-player .ab-note")).to_contain_text("LUFS")

    page.click("#ab-player .ab-play")
    expect(ab).to_have_attribute("data-playing", "true")
    page.wait_for_function("window.restorationAB.position() > 0.5")
    before = page.evaluate("window.restorationAB.position()")
    page.keyboard.press("x")
    expect(ab).to_have_attribute("data-side", "1")
    expect(page.locator("#ab-player .ab-toggle")).to_have_text("B · Restored")
    after = page.evaluate("window.restorationAB.position()")
    assert before <= after < before + 1.0  # the switch keeps the playback position
    page.click("#ab-player .ab-toggle")
    expect(ab).to_have_attribute("data-side", "0")
    page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
    assert (tmp_path / "app.png").stat().st_size > 10_000
    page.close()


def test_bad_input_shows_the_message_not_a_traceback(browser, app_url):
    from playwright.sync_api import expect

    page = open_studio(browser, app_url)
    page.click("#restore-button")
    toast = page.locator(".toast-body")
    expect(toast.first).to_contain_text("no audio for the audio to restore")
    assert "Traceback" not in page.content()
    page.close()


def test_each_browser_session_keeps_its_own_history(browser, app_url):
    from playwright.sync_api import expect

    pages = {method: open_studio(browser, app_url) for method in ("spectral_gating", "passthrough")}
    for method, page in pages.items():  # both queue up before either finishes
        restore(page, method)
    for method, page in pages.items():
        expect(page.locator("#restore-report")).to_contain_text(f"{method}:", timeout=TIMEOUT_MS)
        page.get_by_text("This session's restorations").click()
        history = page.locator("#history")
        expect(history).to_contain_text(method)
        other = "passthrough" if method == "spectral_gating" else "spectral_gating"
        expect(history).not_to_contain_text(other)
        page.close()
