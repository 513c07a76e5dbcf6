"""The arena through gradio_client against the running app: the operator's endpoints, part of a
200-vote crowd, cheating refused, 20 concurrent visitors, and no acknowledged vote lost when the
server is killed with SIGKILL."""

import os
import signal
import sqlite3
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import app_server
from arena_crowd import STRENGTHS, SYSTEMS, Crowd, build_pool, draw_vote, systems_of, true_scores
from restoration.listening import ListeningStore
from restoration.listening.arena import Arena, ArenaRules

pytestmark = pytest.mark.slow
PASSWORD = "pw"
#: Fast votes for a script (0.5 s clips need 0.25 s of play each); the real defaults are 4 s and 2 s.
FLAGS = dict(admin_password=PASSWORD, arena_min_vote_s=0.3, arena_visitor_votes_per_min=100,
             arena_peer_votes_per_min=100000, arena_peer_visitors_per_hour=100000)


def make_pool(folder: Path) -> Path:
    db = folder / "listening.sqlite"
    build_pool(ListeningStore(db), folder / "clips", seconds=0.5)
    return db


def client_for(url, folder):
    from gradio_client import Client

    return Client(url, download_files=str(folder / "downloads"), verbose=False)


def cast(client, db, view, vote, *, min_vote_s=0.3):
    """Play both versions, wait, vote ``vote(a, b)`` (A or B); returns (the voted token, the reply)."""
    for slot in "AB":
        client.predict(visitor=view["visitor"], token=view["token"], slot=slot, seconds=view["min_play_s"],
                       api_name="/arena_played")
    time.sleep(min_vote_s)
    a, b = systems_of(db, view["token"])
    reply = client.predict(visitor=view["visitor"], token=view["token"], choice=vote(a, b),
                           api_name="/arena_vote")
    return view["token"], reply


def stored_tokens(db) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT token FROM arena_votes")}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arena-client")
    db = make_pool(folder)
    with app_server.running_app(folder, db=str(db), **FLAGS) as url:
        client = client_for(url, folder)
        test_id = ListeningStore(db).list_tests()[0].id
        from gradio_client.exceptions import AppError

        with pytest.raises(AppError, match="wrong admin password"):
            client.predict(password="nope", tests=[test_id], confirm=False, api_name="/arena_pool_add")
        with pytest.raises(AppError, match="arena is closed"):
            client.predict(visitor="", api_name="/arena_next")
        client.predict(password=PASSWORD, tests=[test_id], confirm=False, api_name="/arena_pool_add")
        status, _ = client.predict(password=PASSWORD, tests=[], confirm=False, api_name="/arena_open")
        assert "**open**" in status and "12 pair(s)" in status
        yield url, client, db, folder


def test_a_crowd_through_the_endpoints_ranks_the_systems(served):
    url, client, db, folder = served
    crowd = Crowd()
    # 140 votes through the library (the same database, another process), 60 through gradio_client.
    rules = ArenaRules(min_vote_s=0.0, visitor_votes_per_min=100, peer_votes_per_min=1000)
    arena = Arena(ListeningStore(db), folder / "library-copies", rules=rules)
    library = 0
    while library < 140:
        view = arena.next("", "library")
        while view.token is not None and library < 140:
            for slot in "AB":
                arena.played(view.token, slot, view.min_play_s, visitor=view.visitor)
            a, b = systems_of(db, view.token)
            view, library = arena.vote(view.visitor, view.token, crowd.vote(a, b), "library"), library + 1
    arena.close()
    visitors, remote = set(), 0
    while remote < 60:
        view = client.predict(visitor="", api_name="/arena_next")
        visitors.add(view["visitor"])
        for _ in range(6):
            assert not view["done"] and "passthrough" not in str(view["slots"])  # revealed only after the vote
            assert [s["key"] for s in view["slots"]] == ["A", "B"]
            sizes = {Path(s["file"]).stat().st_size for s in view["slots"]}
            assert len(sizes) == 1 and all(Path(s["file"]).suffix == ".wav" for s in view["slots"])
            token, view = cast(client, db, view, crowd.vote)
            assert view["reveal"]["A"] in SYSTEMS and f"A was {view['reveal']['A']}" in view["message"]
            remote += 1
    assert len(visitors) == 10 and len(stored_tokens(db)) == 200

    summary, table, clips, chart, csv = client.predict(api_name="/arena_leaderboard")
    assert "200 vote(s)" in summary
    rows = [dict(zip(table["headers"], r)) for r in table["data"]]
    assert [r["system"] for r in rows] == sorted(SYSTEMS, key=STRENGTHS.get, reverse=True)
    truth = true_scores()
    for row in rows:
        assert row["low"] <= truth[row["system"]] <= row["high"], row
    assert len(clips["data"]) == 8 and Path(csv).read_text().count("\n") == 201


def test_cheating_votes_are_refused_through_the_endpoints(served):
    from gradio_client.exceptions import AppError

    url, client, db, folder = served
    before = stored_tokens(db)
    view = client.predict(visitor="", api_name="/arena_next")
    with pytest.raises(AppError, match="too fast|play both versions"):
        client.predict(visitor=view["visitor"], token=view["token"], choice="A", api_name="/arena_vote")
    time.sleep(0.4)
    with pytest.raises(AppError, match="play both versions"):  # no play reported
        client.predict(visitor=view["visitor"], token=view["token"], choice="A", api_name="/arena_vote")
    with pytest.raises(AppError, match="more play time"):
        client.predict(visitor=view["visitor"], token=view["token"], slot="A", seconds=30, api_name="/arena_played")
    with pytest.raises(AppError, match="unknown visitor"):
        client.predict(visitor="forged", api_name="/arena_next")
    token, reply = cast(client, db, view, Crowd().vote)
    with pytest.raises(AppError, match="already voted"):  # a token counts once
        client.predict(visitor=view["visitor"], token=token, choice="B", api_name="/arena_vote")
    assert stored_tokens(db) - before == {token}


def hammer(url, folder, db, votes, acknowledged, errors, stop=None):
    """One visitor voting ``votes`` times (or until ``stop`` is set); acknowledged tokens and errors are collected."""
    try:
        client = client_for(url, folder)
        view = client.predict(visitor="", api_name="/arena_next")
        rng = np.random.default_rng()
        for _ in range(votes):
            if stop is not None and stop.is_set():
                return
            token, view = cast(client, db, view, lambda a, b: draw_vote(rng, a, b))
            acknowledged.append(token)
    except Exception as exc:  # noqa: BLE001 (collected and asserted on by the caller)
        errors.append(repr(exc))


def test_twenty_concurrent_visitors(served):
    url, client, db, folder = served
    before = stored_tokens(db)
    acknowledged, errors = [], []
    threads = [threading.Thread(target=hammer, args=(url, folder, db, 3, acknowledged, errors)) for _ in range(20)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    with urllib.request.urlopen(url, timeout=30) as page:  # the page still answers under the load
        assert page.status == 200
    for t in threads:
        t.join(timeout=300)
    assert errors == [] and len(acknowledged) == 60
    assert stored_tokens(db) - before == set(acknowledged)


def test_no_acknowledged_vote_is_lost_on_sigkill(tmp_path):
    db = make_pool(tmp_path)
    url = app_server.start_app(tmp_path, db=str(db), **FLAGS)
    client = client_for(url, tmp_path)
    test_id = ListeningStore(db).list_tests()[0].id
    client.predict(password=PASSWORD, tests=[test_id], confirm=False, api_name="/arena_pool_add")
    client.predict(password=PASSWORD, tests=[], confirm=False, api_name="/arena_open")
    acknowledged, errors, stop = [], [], threading.Event()
    threads = [threading.Thread(target=hammer, args=(url, tmp_path, db, 12, acknowledged, errors, stop))
               for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(app_server.pid_of(url), signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    app_server.stop_app(url)
    assert len(acknowledged) >= 20
    again = app_server.start_app(tmp_path, db=str(db), **FLAGS)
    try:
        assert set(acknowledged) <= stored_tokens(db)
        summary, *_ = client_for(again, tmp_path).predict(api_name="/arena_leaderboard")
        assert f"{len(stored_tokens(db))} vote(s)" in summary
    finally:
        app_server.stop_app(again)
