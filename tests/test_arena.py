"""The arena as a library: a 200-vote crowd from a known Bradley-Terry model gives the true ranking,
cheating votes are refused and not stored, stimuli reveal nothing, and the leaderboard copes with
edge cases."""

import csv
import os
import sqlite3
import stat

import numpy as np
import pytest
import soundfile as sf

from arena_crowd import STRENGTHS, SYSTEMS, Crowd, build_pool, systems_of, true_scores
from restoration import BadInputError
from restoration.listening import ListeningStore
from restoration.listening.arena import Arena, ArenaRules, Vote
from restoration.listening.leaderboard import board_figure, export_votes_csv, leaderboard


class Clock:
    """A clock the test moves by hand, seconds."""

    def __init__(self):
        self.t = 1_000_000.0

    def __call__(self):
        return self.t


@pytest.fixture(scope="module")
def pool_db(tmp_path_factory):
    """A database with one rendered pool test (2 clips x 4 systems), copied per test."""
    folder = tmp_path_factory.mktemp("arena-pool")
    store = ListeningStore(folder / "pool.sqlite")
    build_pool(store, folder / "clips")
    return store.path


@pytest.fixture
def arena(pool_db, tmp_path):
    import shutil

    db = tmp_path / "listening.sqlite"
    shutil.copy(pool_db, db)
    shutil.copytree(pool_db.with_name("pool-media"), tmp_path / "listening-media")
    store = ListeningStore(db)
    clock = Clock()
    arena = Arena(store, tmp_path / "served", clock=clock)
    arena.add_to_pool([store.list_tests()[0].id])
    arena.set_open(True)
    yield arena, clock
    arena.close()


def listen(arena, clock, view, seconds=None):
    """Wait for the vote time and report both versions played for what the vote needs."""
    clock.t += arena.rules.min_vote_s
    for slot in "AB":
        arena.played(view.token, slot, seconds if seconds is not None else view.min_play_s, visitor=view.visitor)


def vote_count(arena):
    return arena.store._read("SELECT COUNT(*) FROM arena_votes")[0][0]


def test_a_crowd_of_200_votes_ranks_the_systems_in_the_true_order(arena):
    arena, clock = arena
    crowd = Crowd()
    votes, visitors = 0, 0
    while votes < 200:
        view, visitors = arena.next("", f"10.0.0.{visitors % 5}"), visitors + 1
        while view.token is not None and votes < 200:
            listen(arena, clock, view)
            a, b = systems_of(arena.store.path, view.token)
            view = arena.vote(view.visitor, view.token, crowd.vote(a, b), f"10.0.0.{(visitors - 1) % 5}")
            votes, clock.t = votes + 1, clock.t + 3.0  # 7 s a vote: under 10 a minute
            assert view.reveal == {"A": a, "B": b, "vote": view.reveal["vote"]} and a in view.message
    assert vote_count(arena) == 200 and visitors >= 200 // 12
    board = leaderboard(arena.votes())
    assert [r["system"] for r in board.rows] == sorted(SYSTEMS, key=STRENGTHS.get, reverse=True)
    truth = true_scores()
    for row in board.rows:
        assert row["low"] <= truth[row["system"]] <= row["high"], row
        assert row["low"] <= row["score"] <= row["high"]
    assert sum(r["votes"] for r in board.rows) == 400 and sum(r["wins"] + r["ties"] / 2 for r in board.rows) == 200
    assert abs(np.mean([r["score"] for r in board.rows]) - 1000) < 1e-6
    assert {r["clip"] for r in board.clips} == {"arena pool / tune0", "arena pool / tune1"}


def test_cheating_votes_are_refused_and_not_stored(arena):
    arena, clock = arena
    view = arena.next("", "peer")
    with pytest.raises(BadInputError, match="too fast"):
        arena.vote(view.visitor, view.token, "A", "peer")
    clock.t += arena.rules.min_vote_s
    with pytest.raises(BadInputError, match=r"play both versions .*not yet: A, B"):
        arena.vote(view.visitor, view.token, "A", "peer")
    arena.played(view.token, "A", view.min_play_s, visitor=view.visitor)
    with pytest.raises(BadInputError, match="not yet: B"):
        arena.vote(view.visitor, view.token, "A", "peer")
    arena.played(view.token, "B", view.min_play_s, visitor=view.visitor)
    with pytest.raises(BadInputError, match="not valid"):
        arena.vote(view.visitor, view.token, "maybe", "peer")
    other = arena.next("", "peer")
    with pytest.raises(BadInputError, match="unknown pair token"):  # another visitor's token
        arena.vote(other.visitor, view.token, "A", "peer")
    assert vote_count(arena) == 0
    after = arena.vote(view.visitor, view.token, "tie", "peer")
    assert vote_count(arena) == 1 and after.reveal["vote"] == "tie"
    with pytest.raises(BadInputError, match="already voted"):  # the token is single-use
        arena.vote(view.visitor, view.token, "A", "peer")
    # A forged second match of the same pair for the same visitor: the pair counts once.
    a, b = systems_of(arena.store.path, view.token)
    with arena.store._transaction() as conn:
        conn.execute("INSERT INTO arena_matches (token, visitor, peer, test_id, test_name, clip, condition_a, "
                     "condition_b, required_s, shown_unix) SELECT 'forged', visitor, peer, test_id, test_name, clip, "
                     "condition_b, condition_a, required_s, shown_unix FROM arena_matches WHERE token = ?",
                     (view.token,))
        conn.execute("INSERT INTO arena_plays (token, slot, position_s, seconds, at_unix) VALUES "
                     "('forged', 'A', 0, 9, 0), ('forged', 'B', 0, 9, 0)")
    with pytest.raises(BadInputError, match="already voted on this pair"):
        arena.vote(view.visitor, "forged", "B", "peer")
    # A newer pair replaces the one on show: its token no longer counts.
    replaced = after
    newer = arena.next(view.visitor, "peer")
    listen(arena, clock, newer)
    with pytest.raises(BadInputError, match="replaced by a newer one"):
        arena.vote(view.visitor, replaced.token, "A", "peer")
    with pytest.raises(BadInputError, match="unknown visitor"):
        arena.next("made-up", "peer")
    assert vote_count(arena) == 1


def test_play_reports_are_bounded_by_the_time_since_shown(arena):
    arena, clock = arena
    view = arena.next("", "peer")
    clock.t += 1.0
    with pytest.raises(BadInputError, match="more play time"):
        arena.played(view.token, "A", 3.5, visitor=view.visitor)  # 1 s passed, 2 s slack
    assert arena.played(view.token, "A", 2.5, visitor=view.visitor) == {"A": 2.5}
    with pytest.raises(BadInputError, match="more play time"):
        arena.played(view.token, "B", 1.0, visitor=view.visitor)
    for bad in (-1.0, float("nan"), 0.0):
        with pytest.raises(BadInputError, match="duration of at least"):
            arena.played(view.token, "A", bad)
    with pytest.raises(BadInputError, match="no version 'X'"):
        arena.played(view.token, "X", 0.1)
    for _ in range(33):  # 30 reports at once, plus 4 a second (1 s has passed)
        arena.played(view.token, "B", 0.01, visitor=view.visitor)
    with pytest.raises(BadInputError, match="too many play reports"):
        arena.played(view.token, "B", 0.01, visitor=view.visitor)
    clock.t += 1.0
    arena.played(view.token, "B", 0.01, visitor=view.visitor)
    assert arena.store._read("SELECT COUNT(*) FROM arena_plays")[0][0] == 35


def test_rates_and_the_share_cap(arena):
    arena, clock = arena
    view = first = arena.next("", "peer")
    for _ in range(arena.rules.visitor_votes_per_min):
        listen(arena, clock, view)
        view = arena.vote(view.visitor, view.token, "A", "peer")
    listen(arena, clock, view)  # 10 votes in 40 s: the 11th waits for the minute to pass
    with pytest.raises(BadInputError, match="votes a minute"):
        arena.vote(view.visitor, view.token, "A", "peer")
    clock.t += 30.0
    assert arena.vote(view.visitor, view.token, "A", "peer").reveal

    arena.rules = ArenaRules(peer_votes_per_min=2, share_floor=1, share_fraction=0.3, peer_visitors_per_hour=2)
    crowd = [arena.next("", "crowd") for _ in range(2)]
    with pytest.raises(BadInputError, match="too many new visitors"):
        arena.next("", "crowd")
    clock.t += 61.0
    for member in crowd:
        listen(arena, clock, member)
        arena.vote(member.visitor, member.token, "B", "crowd")
    third = arena.next(crowd[0].visitor, "crowd")
    listen(arena, clock, third)
    with pytest.raises(BadInputError, match="network address this minute"):
        arena.vote(third.visitor, third.token, "B", "crowd")
    clock.t += 61.0
    listen(arena, clock, third)
    # 13 votes stored; this visitor holds 1 and may hold at most max(1, 0.3 * 14) = 4.2.
    big = arena.next(first.visitor, "peer")  # the first visitor already holds 11 of 13
    listen(arena, clock, big)
    with pytest.raises(BadInputError, match="your share"):
        arena.vote(big.visitor, big.token, "A", "peer")
    assert arena.vote(third.visitor, third.token, "B", "crowd").reveal
    assert vote_count(arena) == 14


def test_closed_arena_and_operator_controls(arena):
    arena, clock = arena
    view = arena.next("", "peer")
    listen(arena, clock, view)
    arena.set_open(False)
    with pytest.raises(BadInputError, match="closed"):
        arena.vote(view.visitor, view.token, "A", "peer")
    with pytest.raises(BadInputError, match="closed"):
        arena.next(view.visitor, "peer")
    arena.set_open(True)
    arena.vote(view.visitor, view.token, "A", "peer")
    (test,) = arena.pool()
    arena.remove_from_pool([test.id])
    assert arena.pool() == [] and len(arena.votes()) == 1  # votes stay
    with pytest.raises(BadInputError, match="pool first"):
        arena.set_open(True)
    arena.add_to_pool([test.name])
    assert arena.reset() == 1 and arena.votes() == [] and arena.pool() == [test]


def test_pairs_reveal_nothing_before_the_vote(arena):
    arena, clock = arena
    view = arena.next("", "peer")
    payload = view.payload()
    assert "passthrough" not in str(payload) and payload["protocol"] == "ab" and payload["reveal"] is None
    files = [p["file"] for p in payload["slots"]]
    assert len({os.path.getsize(f) for f in files}) == 1 and len({open(f, "rb").read() for f in files}) == 2
    info = sf.info(files[0])
    assert info.format == "WAV" and info.subtype == "PCM_24"
    # The next pair (clips of one length): new names, the same size.
    size = os.path.getsize(files[0])
    again = arena.next(view.visitor, "peer").payload()
    assert {os.path.getsize(p["file"]) for p in again["slots"]} == {size}
    assert not {os.path.basename(p["file"]) for p in again["slots"]} & {os.path.basename(f) for f in files}
    files = [p["file"] for p in again["slots"]]
    # Only the visitor's current pair stays on disk.
    arena.next(view.visitor, "peer")
    assert not any(os.path.exists(f) for f in files)
    mode = stat.S_IMODE(arena.store.path.stat().st_mode)
    assert mode == 0o600 and stat.S_IMODE(arena.store.media_root.stat().st_mode) == 0o700


def test_a_visitor_who_voted_on_every_pair_is_done(arena):
    arena, clock = arena
    arena.rules = ArenaRules(visitor_votes_per_min=100)
    view = arena.next("", "peer")
    for _ in range(12):
        assert view.token is not None
        listen(arena, clock, view)
        view = arena.vote(view.visitor, view.token, "B", "peer")
    assert view.token is None and "all 12 pairs" in view.message and view.reveal
    assert len({(v.clip, frozenset((v.condition_a, v.condition_b))) for v in arena.votes()}) == 12


# ------------------------------------------------------------------------------ the leaderboard alone


def votes_of(outcomes):
    """Votes from ``(a, b, outcome)`` triples on one clip."""
    return [Vote(k, "visitor 1", "t", "test", "clip", a, b, o, 2.0, 2.0, 5.0, "2026-01-01") for k, (a, b, o)
            in enumerate(outcomes)]


def test_leaderboard_edge_cases(tmp_path):
    empty = leaderboard([])
    assert empty.rows == [] and "No votes" in empty.notes[0] and board_figure(empty) is None
    ties = leaderboard(votes_of([("x", "y", "tie")] * 5 + [("y", "z", "tie")] * 3))
    assert all(abs(r["score"] - 1000) < 1e-6 and r["ties"] == r["votes"] for r in ties.rows)
    sweep = leaderboard(votes_of([("x", "y", "A")] * 4))  # y never won: finite thanks to the virtual tie
    assert [r["system"] for r in sweep.rows] == ["x", "y"] and all(np.isfinite(r["low"]) for r in sweep.rows)
    assert sweep.rows[0]["wins"] == 4 and sweep.rows[1]["losses"] == 4
    apart = leaderboard(votes_of([("x", "y", "A"), ("u", "v", "B")]))
    assert "never met" in apart.notes[-1]
    assert board_figure(sweep).axes[0].get_title().startswith("Arena leaderboard: 4 vote")
    path = export_votes_csv(votes_of([("x", "y", "B")]), tmp_path / "votes.csv")
    (row,) = csv.DictReader(path.open())
    assert row["preferred"] == "y" and row["vote_for"] == "B" and row["visitor"] == "visitor 1"


def test_votes_survive_a_reopened_database(arena):
    arena, clock = arena
    view = arena.next("", "peer")
    listen(arena, clock, view)
    arena.vote(view.visitor, view.token, "A", "peer")
    again = Arena(ListeningStore(arena.store.path), arena.store.path.parent / "served2")
    assert len(again.votes()) == 1 and again.is_open()
    with sqlite3.connect(arena.store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# ------------------------------------------------------------------------------ the tab's handlers and flags


def test_operator_handlers_need_the_admin_password(arena, tmp_path):
    import gradio as gr

    from restoration.listening import ListeningService
    from studio.arena_tab import ArenaHandlers
    from studio.listening_tab import ListeningHandlers

    arena, clock = arena
    listening = ListeningHandlers(arena.store, "pw", ListeningService(arena.store, tmp_path / "scratch"))
    handlers = ArenaHandlers(arena, listening)
    with pytest.raises(gr.Error, match="wrong admin password"):
        handlers.manage("close", "nope", [], False)
    assert arena.is_open()
    assert "**closed**" in handlers.manage("close", "pw", [], False)[0]
    with pytest.raises(gr.Error, match="really reset"):
        handlers.manage("reset", "pw", [], False)
    with pytest.raises(gr.Error, match="no listening test named"):
        handlers.manage("add", "pw", ["nothing"], False)
    summary, table, clips, chart, csv_path = handlers.leaderboard()
    assert "0 vote(s)" in summary and "No votes yet" in summary and table is None and chart is None
    assert "error" in handlers.played_from_player({"token": "x", "slot": "A", "seconds": 1})
    handlers.manage("open", "pw", [], False)
    view, visitor = handlers.start("")
    assert visitor == view["visitor"] and arena.knows(visitor) and view["slots"][0]["file"]["path"].endswith(".wav")
    assert handlers.start(visitor)[1] == visitor  # the browser's remembered visitor
    handlers.manage("reset", "pw", [], True)
    assert not arena.knows(visitor) and handlers.start(visitor)[1] not in ("", visitor)  # a new one after a reset


@pytest.mark.parametrize("flag", ["--arena-min-vote-s=-1", "--arena-peer-votes-per-min=-5"])
def test_bad_arena_flags_stop_the_app_with_one_line(flag, capsys):
    import argparse

    from studio.arena_tab import add_arguments, rules_from_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit) as stop:
        rules_from_arguments(parser, parser.parse_args([flag]))
    assert stop.value.code == 2 and "must be a number >= 0" in capsys.readouterr().err


def test_a_stored_vote_is_acknowledged_even_when_the_next_pair_fails(arena, monkeypatch):
    arena, clock = arena
    view = arena.next("", "peer")
    listen(arena, clock, view)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(arena._copies, "serve", broken)
    after = arena.vote(view.visitor, view.token, "B", "peer")
    assert after.token is None and "could not be served" in after.message and after.reveal["vote"] == "B"
    assert vote_count(arena) == 1
