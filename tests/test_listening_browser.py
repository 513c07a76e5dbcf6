"""The Listening test tab in headless Chromium: an operator creates a 3-trial A/B test, one listener
completes it (reloading the page half way), and the results page shows the answers."""

import csv
import io
import socket
from pathlib import Path

import gradio as gr
import pytest

from restoration import save_audio
from restoration.listening import ListeningStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "s3cret"
#: Three methods on one clip: three A/B pairs.
CHAINS = "passthrough+passthrough, passthrough+passthrough+passthrough"


def start_server(tmp_path, db):
    """``(url, stop)``: the app from ``tests/app_server.py`` when it exists, else the listening tab
    alone in this process."""
    try:
        from app_server import start_app, stop_app
    except ImportError:
        start_app = None
    if start_app is not None:
        url = start_app(tmp_path, db=str(db), admin_password=PASSWORD)
        return url, lambda: stop_app(url)
    from listening_ui import build_listening_tab

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with gr.Blocks() as demo:
        with gr.Tab("Listening test"):
            build_listening_tab(db_path=str(db), admin_password=PASSWORD)
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                        ssr_mode=False)
    return f"http://127.0.0.1:{port}/", demo.close


@pytest.fixture
def app(tmp_path):
    db = tmp_path / "listening.sqlite"
    url, stop = start_server(tmp_path, db)
    yield url, db
    stop()


def pick(page, dropdown, option):
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option).first.click()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_operator_listener_and_results(app, tmp_path, music):
    from playwright.sync_api import expect, sync_playwright

    url, db = app
    clip = save_audio(tmp_path / "tune.wav", music(sr=32000, seconds=1.0, seed=3), 32000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        page.goto(url)
        page.get_by_role("tab", name="Listening test", exact=True).click()

        # Operator: upload a clip, pick three methods, render.
        page.get_by_role("tab", name="Create test", exact=True).click()
        page.locator("#create-password input").fill(PASSWORD)
        page.locator("#create-name textarea").fill("Browser AB")
        page.locator("#create-clips input[type=file]").set_input_files(str(clip))
        expect(page.locator("#create-clips")).to_contain_text("tune.wav")
        page.locator("#create-chains textarea").fill(CHAINS)
        page.locator("#create-button").click()
        expect(page.locator("#create-report")).to_contain_text("3 trial(s) per listener", timeout=60_000)

        # Listener: one trial at a time, players and answer buttons only.
        page.get_by_role("tab", name="Listen", exact=True).click()
        pick(page, "#listen-test", "Browser AB")
        page.locator("#listen-name textarea").fill("Ada")
        page.locator("#listen-start").click()
        status = page.locator("#listen-status")
        expect(status).to_contain_text("Trial 1 of 3")
        for player in ("#player-a", "#player-b"):  # a loaded waveform has an audio element with a source
            expect(page.locator(f"{player} audio[src]")).to_have_count(1)
        expect(page.locator("#player-x audio[src]")).to_have_count(0)
        listen_text = page.locator("body").inner_text()
        assert "passthrough" not in listen_text
        page.locator("#answer-a").click()
        expect(status).to_contain_text("Trial 2 of 3")

        # Reload: the same name continues at trial 2.
        page.reload()
        page.get_by_role("tab", name="Listening test", exact=True).click()
        pick(page, "#listen-test", "Browser AB")
        page.locator("#listen-name textarea").fill("ada")
        page.locator("#listen-start").click()
        expect(status).to_contain_text("Trial 2 of 3")
        page.locator("#answer-b").click()
        expect(status).to_contain_text("Trial 3 of 3")
        page.locator("#answer-none").click()
        expect(status).to_contain_text("All 3 trials done")

        # Results: refused without the password, shown with it.
        page.get_by_role("tab", name="Results", exact=True).click()
        pick(page, "#results-test", "Browser AB")
        page.locator("#results-show").click()
        expect(page.get_by_text("wrong admin password")).to_be_visible()
        page.locator("#results-password input").fill(PASSWORD)
        page.locator("#results-show").click()
        summary = page.locator("#results-summary")
        expect(summary).to_contain_text("1 finished, 3 answer(s)")
        expect(page.locator("#results-table-1")).to_contain_text("passthrough+passthrough+passthrough")
        expect(page.locator("#results-table-2")).to_contain_text("p_value")
        link = page.locator("#results-csv a[download='Browser-AB-answers.csv']").first
        rows = list(csv.DictReader(io.StringIO(page.request.get(link.get_attribute("href")).text())))
        browser.close()

    assert [r["listener"] for r in rows] == ["Ada"] * 3
    assert sorted(r["response"] for r in rows) == ["A", "B", "none"]
    store = ListeningStore(db)
    (test,) = store.list_tests()
    answers = store.answers(test.id)
    assert len(answers) == 3 and len({a.trial_id for a in answers}) == 3
    assert store.listener_counts(test.id) == (1, 1)


@pytest.mark.parametrize("password", [None, "pw"])
def test_admin_handlers_check_the_password(tmp_path, password):
    from listening_ui import ListeningHandlers

    handlers = ListeningHandlers(ListeningStore(tmp_path / "db.sqlite"), password)
    if password is None:
        handlers.check_admin("")  # no password set: open
        return
    handlers.check_admin("pw")
    with pytest.raises(gr.Error, match="wrong admin password"):
        handlers.results("nope", None)
    with pytest.raises(gr.Error, match="choose a listening test"):
        handlers.results("pw", None)


def test_unusable_database_keeps_the_app_building(tmp_path):
    from listening_ui import build_listening_tab

    with gr.Blocks() as demo:
        build_listening_tab(db_path=str(tmp_path), admin_password=None)  # a folder, not a file
    texts = [getattr(b, "value", "") or "" for b in demo.blocks.values()]
    assert any("Listening tests are unavailable" in str(t) for t in texts)


def test_mushra_screen_through_the_handlers(tmp_path, music):
    """The MUSHRA view without a browser: rows shown, the reference rule, answers stored in order."""
    from listening_ui import SLOTS, ListeningHandlers, add_components

    from restoration.listening import build_test, pair_clips

    store = ListeningStore(tmp_path / "db.sqlite")
    source = save_audio(tmp_path / "s.wav", 0.3 * music(sr=32000, seconds=0.6, seed=4), 32000)
    reference = save_audio(tmp_path / "s_clean.wav", music(sr=48000, seconds=0.6, seed=4), 48000)
    test_id = build_test(store, name="m", protocol="mushra", clips=pair_clips([source], [reference]),
                         methods=["passthrough"])
    handlers = ListeningHandlers(store, None)
    with gr.Blocks():
        add_components(handlers)
    c = handlers.c
    view = handlers.start(test_id, "Ann")
    session = view[c["session"]]
    assert len(session["presented"]) == 3 and session["has_reference"]
    assert [view[row].visible for row in c["rows"]] == [True] * 3 + [False] * (SLOTS - 3)
    assert view[c["reference"]].visible and not view[c["a"]].visible
    with pytest.raises(gr.Error, match="at least one sample 100"):
        handlers.check_ratings(session, 90, 80, 70, *[50] * (SLOTS - 3))
    done = handlers.answer(session, "ratings", 100, 80, 20, *[50] * (SLOTS - 3))
    assert "All 1 trials done" in done[c["status"]]
    (answer,) = store.answers(test_id)
    assert [answer.ratings[s] for s in session["presented"]] == [100, 80, 20]
    # The same listener coming back finds nothing left; the answer is not duplicated.
    assert "All 1 trials done" in handlers.start(test_id, "ann")[c["status"]]
    assert len(store.answers(test_id)) == 1
