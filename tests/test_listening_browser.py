"""The Listening test tab in headless Chromium: an operator creates an ABX test, a listener takes it
and a MUSHRA trial in the synchronized trial player, and the operator reads the results and closes
the test. Plus the tab's handlers without a browser."""

import csv
import io
from pathlib import Path

import gradio as gr
import pytest

from restoration import save_audio
from restoration.listening import ListeningService, ListeningStore, build_test, pair_clips

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "s3cret"
#: Two methods on one clip: one ABX trial.
CHAINS = "passthrough+passthrough"


@pytest.fixture
def app(tmp_path):
    from app_server import start_app, stop_app

    db = tmp_path / "listening.sqlite"
    url = start_app(tmp_path, db=str(db), admin_password=PASSWORD)
    yield url, db
    stop_app(url)


def pick(page, dropdown, option):
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option).first.click()


def play_each(page, keys, seconds):
    """Select each sample by its key while the (looping) player runs, for ``seconds`` each on the
    player's audio clock (which a busy machine may run slower than the wall clock)."""
    for key in keys:
        page.keyboard.press(key.lower())
        page.wait_for_function(f"window.restorationTrial.current === {key!r}")
        start = page.evaluate("window.restorationTrial.clock")
        page.wait_for_function(f"window.restorationTrial.clock > {start + seconds + 0.1}")


def start_looping(page):
    page.locator("#trial-player .tp-loop-on").check()
    page.keyboard.press("Space")
    page.wait_for_function("window.restorationTrial.playing && window.restorationTrial.position() > 0.1")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_operator_listener_and_results(app, tmp_path, music):
    from playwright.sync_api import expect, sync_playwright

    url, db = app
    clip = save_audio(tmp_path / "tune.wav", music(sr=32000, seconds=1.0, seed=3), 32000)
    reference = save_audio(tmp_path / "tune_clean.wav", music(sr=48000, seconds=1.0, seed=3), 48000)
    store = ListeningStore(db)
    mushra = build_test(store, name="Browser MUSHRA", protocol="mushra", clips=pair_clips([clip], [reference]),
                        methods=["passthrough", "passthrough+passthrough"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(url)
        page.get_by_role("tab", name="Listening test", exact=True).click()

        # Operator: upload a clip, two methods, ABX, render.
        page.get_by_role("tab", name="Create test", exact=True).click()
        page.locator("#create-password input").fill(PASSWORD)
        page.locator("#create-name textarea").fill("Browser ABX")
        page.get_by_label("ABX (is X A or B?)").check()
        page.locator("#create-clips input[type=file]").set_input_files(str(clip))
        expect(page.locator("#create-clips")).to_contain_text("tune.wav")
        page.locator("#create-chains textarea").fill(CHAINS)
        page.locator("#create-button").click()
        expect(page.locator("#create-report")).to_contain_text("1 trial(s) per listener", timeout=60_000)

        # Listener, ABX: the synchronized player; nothing is accepted before every sample was played.
        page.get_by_role("tab", name="Listen", exact=True).click()
        pick(page, "#listen-test", "Browser ABX")
        page.locator("#listen-name textarea").fill("Ada")
        page.locator("#listen-start").click()
        player = page.locator("#trial-player .tp")
        expect(player).to_have_attribute("data-ready", "true")
        expect(player).to_contain_text("Trial 1 of 1")
        assert "passthrough" not in page.locator("body").inner_text()
        page.get_by_role("button", name="X is A").click()
        expect(page.locator("#trial-player .tp-note")).to_contain_text("Play every sample before answering")
        start_looping(page)
        before = page.evaluate("window.restorationTrial.position()")
        page.keyboard.press("b")  # switching keeps the position: one clock for all samples
        after = page.evaluate("window.restorationTrial.position()")
        assert page.evaluate("window.restorationTrial.current") == "B"
        assert before <= after < before + 0.3
        minimum = page.evaluate("window.restorationTrial.view.min_play_s")
        play_each(page, ["A", "B", "X"], minimum)
        token = page.evaluate("window.restorationTrial.view.token")
        slots = store.presentation(token).slots
        page.get_by_role("button", name=f"X is {'A' if slots['X'] == slots['A'] else 'B'}").click()
        expect(player).to_contain_text("All 1 trials done")
        (test,) = [t for t in store.list_tests() if t.name == "Browser ABX"]
        (answer,) = store.answers(test.id)
        assert set(answer.played) == {"A", "B", "X"} and min(answer.played.values()) >= minimum - 0.05

        # Listener, MUSHRA through a shared link: sliders start unset, nothing untouched is sent.
        page.goto(f"{url}?test={mushra}")
        expect(page.locator("#listen-test input")).to_have_value("Browser MUSHRA (" + test.created_at[:10] + ")")
        page.locator("#listen-name textarea").fill("Ada")
        page.locator("#listen-start").click()
        expect(player).to_have_attribute("data-ready", "true")
        rates = page.locator("#trial-player .tp-rate")
        expect(rates).to_have_count(4)
        expect(page.locator("#trial-player .tp-rate.unset")).to_have_count(4)
        submit = page.get_by_role("button", name="Submit ratings")
        start_looping(page)
        play_each(page, ["1", "2", "3", "4"], page.evaluate("window.restorationTrial.view.min_play_s"))
        page.keyboard.press("Space")
        submit.click()
        expect(page.locator("#trial-player .tp-note")).to_contain_text("Rate every sample first (not yet: Sample 1")
        for k, value in enumerate(["80", "60", "40"]):
            rates.nth(k).fill(value)
        submit.click()
        expect(page.locator("#trial-player .tp-note")).to_contain_text("not yet: Sample 4")
        rates.nth(3).fill("20")
        submit.click()
        expect(page.locator("#trial-player .tp-note")).to_contain_text("Rate at least one sample 100")
        rates.nth(0).fill("100")
        expect(page.locator("#trial-player .tp-rate.unset")).to_have_count(0)
        submit.click()
        expect(player).to_contain_text("All 1 trials done")
        (answer,) = store.answers(mushra)
        assert sorted(answer.ratings.values()) == [20, 40, 60, 100]

        # Operator: results (refused without the password), then close the test.
        page.get_by_role("tab", name="Results", exact=True).click()
        pick(page, "#results-test", "Browser ABX")
        page.locator("#results-show").click()
        expect(page.get_by_text("wrong admin password")).to_be_visible()
        page.locator("#results-password input").fill(PASSWORD)
        page.locator("#results-show").click()
        summary = page.locator("#results-summary")
        expect(summary).to_contain_text("1 of 1 listener(s) finished")
        expect(summary).to_contain_text(f"?test={test.id}")
        expect(page.locator("#results-table-1")).to_contain_text("passthrough vs passthrough+passthrough")
        link = page.locator("#results-csv a[download='Browser-ABX-answers.csv']").first
        rows = list(csv.DictReader(io.StringIO(page.request.get(link.get_attribute("href")).text())))
        page.get_by_text("Manage this test").click()
        page.locator("#results-close").click()
        expect(page.locator("#results-managed")).to_contain_text("closed")
        browser.close()

    assert [r["listener"] for r in rows] == ["Ada"] and rows[0]["correct"] == "1"
    assert store.get_test(test.id).status == "closed"


# ------------------------------------------------------------------------------ handlers without a browser


@pytest.fixture
def handlers_for(tmp_path):
    from studio.listening_tab import ListeningHandlers

    def make(password):
        store = ListeningStore(tmp_path / "db.sqlite")
        return ListeningHandlers(store, password, ListeningService(store, tmp_path / "scratch"))

    return make


@pytest.mark.parametrize("password", [None, "pw"])
def test_admin_handlers_check_the_password(handlers_for, password):
    handlers = handlers_for(password)
    if password is None:
        handlers.check_admin("")  # no password set: open
        return
    handlers.check_admin("pw")
    with pytest.raises(gr.Error, match="wrong admin password"):
        handlers.results("nope", None, False)
    with pytest.raises(gr.Error, match="wrong admin password"):
        handlers.manage("delete", "nope", None, True)
    with pytest.raises(gr.Error, match="choose a listening test"):
        handlers.results("pw", None, False)


def test_manage_closes_reopens_and_deletes_only_when_confirmed(handlers_for, tmp_path, music):
    handlers = handlers_for(None)
    store = handlers.store
    clip = save_audio(tmp_path / "c.wav", music(sr=32000, seconds=0.5, seed=1), 32000)
    test_id = build_test(store, name="t", protocol="ab", clips=pair_clips([clip]),
                         methods=["passthrough", "passthrough+passthrough"])
    assert "closed" in handlers.manage("close", None, test_id, False)[0]
    assert store.get_test(test_id).status == "closed"
    assert "open again" in handlers.manage("reopen", None, test_id, False)[0]
    with pytest.raises(gr.Error, match="really delete"):
        handlers.manage("delete", None, test_id, False)
    assert store.list_tests()
    handlers.manage("delete", None, test_id, True)
    assert store.list_tests() == [] and not store.media_dir(test_id).exists()


def test_player_reports_errors_as_data_and_records_plays(handlers_for, tmp_path, music):
    handlers = handlers_for(None)
    clip = save_audio(tmp_path / "c.wav", music(sr=32000, seconds=0.5, seed=1), 32000)
    test_id = build_test(handlers.store, name="t", protocol="ab", clips=pair_clips([clip]),
                         methods=["passthrough", "passthrough+passthrough"])
    view = handlers.join(test_id, "Ann")
    assert view["slots"][0]["file"]["meta"] == {"_type": "gradio.FileData"}
    assert handlers.played_from_player({"token": view["token"], "slot": "A", "seconds": 0.2}) == {
        "played": {"A": pytest.approx(0.2)}}
    assert "no sample 'Q'" in handlers.played_from_player({"token": view["token"], "slot": "Q", "seconds": 1})["error"]
    assert "error" in handlers.played_from_player("nonsense")


def test_unusable_database_keeps_the_app_building(tmp_path, capsys):
    from studio.listening_tab import build_listening_tab

    with gr.Blocks() as demo:
        build_listening_tab(db_path=str(tmp_path), admin_password=None)  # a folder, not a file
    texts = [str(getattr(b, "value", "") or "") for b in demo.blocks.values()]
    shown = next(t for t in texts if "Listening tests are unavailable" in t)
    assert "folder" in shown and str(tmp_path.parent) not in shown  # no server path on the page
    assert str(tmp_path) in capsys.readouterr().out  # the console has it


def test_the_tab_says_where_the_database_is(tmp_path, capsys, monkeypatch):
    from studio.listening_tab import build_listening_tab

    monkeypatch.setenv("SPACE_ID", "someone/studio")
    with gr.Blocks():
        build_listening_tab(db_path=str(tmp_path / "db.sqlite"), admin_password=None)
    out = capsys.readouterr().out
    assert f"Listening tests: database {tmp_path / 'db.sqlite'}" in out
    assert "WARNING" in out and "lost when the Space restarts" in out
