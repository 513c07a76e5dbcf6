"""The Studio tab in headless Chromium: restore and compare, the A/B player (keys, loop, loudness at
once), errors shown whole, a failed restore clearing the comparison, A/B of two history results,
and a phone-width layout. Screenshots go to the test's tmp folder."""

import re
from pathlib import Path

import pytest

from app_server import running_app

from restoration.registry import DEFAULT_METHOD

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
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # server round trips on a loaded 2-core machine
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


def open_studio(browser, url, width=1280, height=900):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#restore-button")
    return page


def load_clip(page):
    page.set_input_files("#original-audio input[type=file]", str(CLIP))
    page.wait_for_selector("#original-audio audio, #original-audio .waveform-container", state="attached")


def choose_method(page, method):
    field = page.locator("#method input")
    field.click()
    field.fill(method)
    options = page.get_by_role("option", name=method, exact=True)
    if options.count():
        options.first.click()
    else:  # a chain of its own: typed, then confirmed
        field.press("Enter")


def pick(page, dropdown, label):
    """Choose the option of ``dropdown`` (a CSS selector) whose label starts with ``label``."""
    page.locator(f"{dropdown} input").click()
    page.locator(f'[role=option][aria-label^="{label}"]:visible').first.click(timeout=20_000)


def restore(page, method):
    choose_method(page, method)
    page.click("#restore-button")


def wait_ready(page, caption):
    from playwright.sync_api import expect

    expect(page.locator("#ab-player .ab-caption")).to_contain_text(caption, timeout=TIMEOUT_MS)
    expect(page.locator("#ab-player .ab")).to_have_attribute("data-ready", "true", timeout=TIMEOUT_MS)


def restored_with_sbr(browser, url):
    """A fresh Studio page whose clip has been restored with sbr and compared."""
    page = open_studio(browser, url)
    load_clip(page)
    restore(page, "sbr")
    wait_ready(page, "#1 sbr")
    return page


def test_restore_compare_and_the_ab_player(browser, app_url, tmp_path):
    from playwright.sync_api import expect

    page = restored_with_sbr(browser, app_url)
    expect(page.locator("#restore-report")).to_contain_text("32000 Hz → 48000 Hz")
    expect(page.locator("#compare-title")).to_contain_text("#1 sbr")
    for plot in ("#spectrograms", "#difference", "#psd"):
        expect(page.locator(f"{plot} img")).to_have_attribute("src", re.compile(r"\.png$"))
    metrics = page.locator("#metrics")
    expect(metrics).to_contain_text("bandwidth (as the spectrogram shows it), kHz, ↑ higher is better")
    expect(metrics).to_contain_text("✓ better")  # 15 kHz -> 24 kHz
    expect(metrics).to_contain_text("needs a reference")
    expect(metrics).not_to_contain_text("measuring…", timeout=TIMEOUT_MS)  # the detailed metrics arrived
    expect(page.locator("#download a")).to_have_attribute("href", re.compile(r"/train_tune\.sbr\.wav$"),
                                                          timeout=TIMEOUT_MS)

    ab = page.locator("#ab-player .ab")
    assert page.locator("#ab-player .ab-play svg .ab-icon-pause").count() == 1  # an SVG glyph, not a font's
    page.keyboard.press("Space")
    expect(ab).to_have_attribute("data-playing", "true")
    expect(page.locator("#ab-player .ab-play")).to_have_attribute("aria-label", "Pause")
    assert page.locator("#ab-player .ab-icon-pause").is_visible()
    page.wait_for_function("window.restorationAB.position() > 0.5")
    before = page.evaluate("window.restorationAB.position()")
    page.keyboard.press("x")
    expect(ab).to_have_attribute("data-side", "1")
    expect(page.locator("#ab-player .ab-toggle")).to_contain_text("#1 sbr")
    after = page.evaluate("window.restorationAB.position()")
    assert before <= after < before + 1.0  # the switch keeps the playback position
    assert re.fullmatch(r"\d:\d\d\.\d / 0:06\.0", page.locator("#ab-player .ab-time").inner_text())
    page.keyboard.press("Space")
    expect(ab).to_have_attribute("data-playing", "false")

    page.evaluate("window.restorationAB.setLoop({loop: true, loopStart: 2.0, loopEnd: 2.6})")
    page.keyboard.press("Space")
    page.wait_for_timeout(1500)  # longer than the loop: playback must have wrapped around
    position = page.evaluate("window.restorationAB.position()")
    assert 2.0 <= position <= 2.6
    page.keyboard.press("Space")
    page.screenshot(path=str(tmp_path / "studio-desktop.png"), full_page=True)
    page.close()


def test_loudness_applies_at_once_and_says_when_a_peak_limits_it(browser, app_url):
    from playwright.sync_api import expect

    page = restored_with_sbr(browser, app_url)
    level = page.locator("#ab-player .ab-level")
    expect(level).to_have_attribute("data-level", "-20.0")
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    slider = page.locator("#ab-player .ab-lufs")
    slider.fill("-12")  # the clip peaks at -10 dBFS and reads -27 LUFS: +15 dB would clip
    expect(level).to_have_attribute("data-limited", "true")
    expect(level).to_contain_text("quieter than the -12.0 LUFS asked for")
    reached = float(level.get_attribute("data-level"))
    assert -18.0 < reached < -12.5  # the peak allows about -17.1
    slider.fill("-24")
    expect(level).to_have_attribute("data-level", "-24.0")
    expect(level).to_have_attribute("data-limited", "false")
    gains = page.evaluate("window.restorationAB.levels")
    assert gains[0] == pytest.approx(10 ** ((-24 + 27.0) / 20), rel=0.05)
    assert not [url for url in requests if "/queue/" in url or "/run/" in url]  # no server round trip
    page.close()


def test_errors_show_whole_and_a_failed_restore_clears_the_comparison(browser, app_url):
    from playwright.sync_api import expect

    page = open_studio(browser, app_url)
    page.click("#restore-button")
    expect(page.locator(".toast-body").first).to_contain_text("no audio for the audio to restore")
    page.locator(".toast-body").first.locator("button, .toast-close").first.click()

    load_clip(page)
    restore(page, "sbr")
    wait_ready(page, "#1 sbr")
    restore(page, "sbr+<b>echo</b>")
    toast = page.locator(".toast-body").first
    expect(toast).to_contain_text("unknown method '<b>echo</b>'; available: passthrough")  # all of it, as text
    title = page.locator("#compare-title")
    expect(title).to_contain_text("Restoring with sbr+<b>echo</b> failed at")
    expect(title).to_contain_text("unknown method")
    expect(page.locator("#ab-player .ab")).to_have_attribute("data-ready", "false")
    expect(page.locator("#spectrograms img")).to_have_count(0)
    expect(page.locator("#restored-audio audio")).to_have_count(0)  # no earlier result under the error
    expect(page.locator("#restore-report")).not_to_contain_text("restored in")
    assert "Traceback" not in page.content()
    page.close()


def test_ab_of_two_results_from_the_history(browser, app_url):
    from playwright.sync_api import expect

    page = restored_with_sbr(browser, app_url)
    restore(page, "spectral_gating")
    wait_ready(page, "#2 spectral_gating")
    for chooser, label in (("#history-a", "#1 sbr"), ("#history-b", "#2 spectral_gating")):
        pick(page, chooser, label)
    page.click("#history-compare")
    wait_ready(page, "#1 sbr vs #2 spectral_gating")
    expect(page.locator("#ab-player .ab-toggle")).to_contain_text("#1 sbr")
    page.keyboard.press("x")
    expect(page.locator("#ab-player .ab-toggle")).to_contain_text("#2 spectral_gating")
    expect(page.locator("#metrics")).to_contain_text("#2 spectral_gating")
    pick(page, "#history-pick", "#1 sbr")
    page.get_by_label("FLAC 24-bit").check()
    expect(page.locator("#download a")).to_have_attribute("href", re.compile(r"/train_tune\.sbr\.flac$"),
                                                          timeout=TIMEOUT_MS)
    page.close()


def box(page, selector: str) -> dict:
    """The page coordinates of ``selector``'s first element (x, y, width, height, right, bottom)."""
    found = page.locator(selector).first.bounding_box()
    y = found["y"] + page.evaluate("scrollY")
    return {**found, "y": y, "right": found["x"] + found["width"], "bottom": y + found["height"]}


def pictures_loaded(page) -> list[dict]:
    """Scroll each comparison picture into view until it is drawn (they load lazily); their boxes."""
    boxes = []
    for selector in ("#spectrograms img", "#difference img", "#psd img"):
        page.locator(selector).scroll_into_view_if_needed()
        page.wait_for_function("(s) => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0; }",
                               arg=selector)
        boxes.append(box(page, selector))
    return boxes


def test_wide_layout_shows_every_history_column_and_the_pair_once(browser, app_url):
    page = open_studio(browser, app_url, width=1400, height=900)
    load_clip(page)
    restore(page, "mcra_wiener+spectral_gating+sbr")  # the longest parameter list of the suggested chains
    wait_ready(page, "#1 mcra_wiener+spectral_gating+sbr")
    table = box(page, "#history")
    headers = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('#history th'))
        .map((th) => [th.innerText.trim(), th.getBoundingClientRect().right]))""")
    for header in ("seconds", "output Hz"):
        assert headers[header] <= table["right"] + 1, (header, headers, table)
    caption = page.locator("#ab-player .ab-caption").inner_text()
    shown = page.locator(f"text={caption}").filter(visible=True) if caption else None
    assert caption == "" or shown.count() == 1  # said by the compare title only
    spectrograms, difference, psd = pictures_loaded(page)
    assert spectrograms["right"] <= difference["x"] and difference["bottom"] <= psd["y"] + 1  # a grid of two columns
    page.close()


def test_phone_width_shows_the_examples_whole(browser, app_url, tmp_path):
    page = open_studio(browser, app_url, width=390, height=844)
    page.locator("#examples table").first.wait_for(timeout=TIMEOUT_MS)  # rendered after the page's first paint
    upload, button = box(page, "#original-audio"), box(page, "#restore-button")
    assert 0 < button["y"] - upload["bottom"] < 844 / 2  # Restore within half a screen of the upload
    overflow = page.evaluate("""() => {
        const table = document.querySelector('#examples table');
        const box = table.getBoundingClientRect();
        return {right: box.right, width: window.innerWidth, scroll: document.documentElement.scrollWidth};
    }""")
    assert overflow["right"] <= overflow["width"] and overflow["scroll"] <= overflow["width"], overflow
    page.locator("#examples td").first.click()  # one click: the example is restored and compared
    wait_ready(page, f"#1 {DEFAULT_METHOD}")  # the method selected: the default
    spectrograms, difference, psd = pictures_loaded(page)
    assert spectrograms["width"] > 300 and spectrograms["height"] > 0.9 * spectrograms["width"]  # the pair stacked
    assert spectrograms["bottom"] <= difference["y"] and difference["bottom"] <= psd["y"]  # one above the other
    page.screenshot(path=str(tmp_path / "studio-phone.png"), full_page=True)
    page.close()


def test_each_browser_session_keeps_its_own_history(browser, app_url):
    from playwright.sync_api import expect

    pages = {method: open_studio(browser, app_url) for method in ("spectral_gating", "passthrough")}
    for method, page in pages.items():  # both queue up before either finishes
        load_clip(page)
        restore(page, method)
    for method, page in pages.items():
        expect(page.locator("#restore-report")).to_contain_text(f"{method}:", timeout=TIMEOUT_MS)
        history = page.locator("#history")
        expect(history).to_contain_text(method)
        other = "passthrough" if method == "spectral_gating" else "spectral_gating"
        expect(history).not_to_contain_text(other)
        page.close()


def test_models_are_told_up_front_and_a_failed_generate_leaves_the_clip_alone(browser, app_url):
    from playwright.sync_api import expect

    page = open_studio(browser, app_url)
    expect(page.locator("#models-status")).to_contain_text("Demucs: demucs_unittest")
    expect(page.locator("#method input")).to_have_value(re.compile(r"^unet\b"))  # the default method
    load_clip(page)
    choose_method(page, "sbr")
    page.get_by_text("Parameters", exact=True).click()
    expect(page.get_by_text("at most 16000 Hz for this 32000 Hz input").first).to_be_attached()  # sbr's cutoff_hz
    page.get_by_text("Generate with MusicGen").click()
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.locator(".toast-body").first).to_contain_text("is not on this server", timeout=10_000)
    expect(page.locator("#generate-status")).to_contain_text("Error")
    original = page.locator("#original-audio")
    expect(original).not_to_contain_text("Error")
    assert original.locator("audio, .waveform-container").count() >= 1  # the clip is still there
    page.close()


def test_your_files_are_added_and_any_two_compared(browser, app_url, tmp_path, music):
    from playwright.sync_api import expect

    from restoration import save_audio

    y = music(44100, 3.0, 2, seed=9)
    files = [save_audio(tmp_path / "song.a.wav", y, 44100), save_audio(tmp_path / "song.b.flac", 0.5 * y, 44100),
             tmp_path / "song.c.wav"]
    files[2].write_bytes(b"not audio at all" * 10)
    page = open_studio(browser, app_url)
    page.set_input_files("#own-files input[type=file]", [str(f) for f in files])
    status = page.locator("#own-files-status textarea")
    expect(status).to_have_value(re.compile(r"^Added 2 file\(s\): #1 song · a, #2 song · b\."), timeout=TIMEOUT_MS)
    expect(status).to_have_value(re.compile(r"Skipped: cannot decode song\.c\.wav"))
    expect(page.locator("#history")).to_contain_text("your file song.b.flac")
    expect(page.locator("#download a")).to_have_attribute("href", re.compile(r"/song\.b\.wav$"), timeout=TIMEOUT_MS)
    page.click("#history-compare")  # A and B are set to the two files added
    wait_ready(page, "#1 song · a vs #2 song · b")
    expect(page.locator("#metrics")).to_contain_text("#2 song · b")
    expect(page.locator("#metrics")).not_to_contain_text("measuring…", timeout=TIMEOUT_MS)
    page.locator("#results").screenshot(path=str(tmp_path / "studio-own-files.png"))
    page.close()
