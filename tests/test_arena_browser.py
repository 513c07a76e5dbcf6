"""The Arena tab in headless Chromium: a visitor takes three votes in the synchronized trial player
(the listening test's, a second instance on the page), sees each pair's systems only after voting,
and reads the leaderboard."""

from pathlib import Path

import pytest

from arena_crowd import SYSTEMS, build_pool
from restoration.listening import ListeningStore
from restoration.listening.arena import Arena

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PLAYER = "window.restorationTrials['arena-player']"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_a_visitor_votes_three_times_and_reads_the_leaderboard(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from app_server import running_app

    db = tmp_path / "listening.sqlite"
    store = ListeningStore(db)
    build_pool(store, tmp_path / "clips", clips=1, systems=SYSTEMS[:3])
    arena = Arena(store, tmp_path / "unused")
    arena.add_to_pool([store.list_tests()[0].id])
    arena.set_open(True)
    with running_app(tmp_path, db=str(db), arena_min_vote_s=1.0) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(url)
        page.get_by_role("tab", name="Arena", exact=True).click()
        page.locator("#arena-start").click()
        player = page.locator("#arena-player .tp")
        for number in (1, 2, 3):
            expect(player).to_contain_text(f"Pair {number} of 3")
            page.wait_for_function(f"{PLAYER} && {PLAYER}.ready")
            assert not any(s in player.inner_text().split("Pair")[-1] for s in SYSTEMS)  # nothing revealed yet
            page.locator("#arena-player .tp-loop-on").check()
            page.keyboard.press("Space")  # keys reach the visible player
            page.wait_for_function(f"{PLAYER}.playing")
            minimum = page.evaluate(f"{PLAYER}.view.min_play_s")
            for key in ("A", "B"):
                page.keyboard.press(key.lower())
                page.wait_for_function(f"{PLAYER}.current === {key!r}")
                start = page.evaluate(f"{PLAYER}.clock")
                page.wait_for_function(f"{PLAYER}.clock > {start + minimum + 0.1}")
            choice = {1: "A is better", 2: "No preference", 3: "B is better"}[number]
            player.get_by_role("button", name=choice).click()
            expect(player).to_contain_text("A was ")
        expect(player).to_contain_text("You have voted on all 3 pairs")
        votes = arena.votes()
        assert [v.outcome for v in votes] == ["A", "tie", "B"]
        assert all(min(v.played_a, v.played_b) >= 0.45 for v in votes)
        text = player.inner_text()
        assert f"A was {votes[-1].condition_a}, B was {votes[-1].condition_b}" in text
        page.reload()  # the browser keeps its visitor: no pair is offered twice
        page.get_by_role("tab", name="Arena", exact=True).click()
        page.locator("#arena-start").click()
        expect(player).to_contain_text("You have voted on all 3 pairs")

        page.get_by_role("tab", name="Leaderboard", exact=True).click()
        page.locator("#arena-refresh").click()
        expect(page.locator("#arena-summary")).to_contain_text("3 vote(s) on 3 system(s)")
        for system in SYSTEMS[:3]:
            expect(page.locator("#arena-table")).to_contain_text(system)
        browser.close()
