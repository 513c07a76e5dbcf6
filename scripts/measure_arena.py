"""What the arena costs per vote and per leaderboard, measured in one run.

    python scripts/measure_arena.py

Builds a pool (2 synthetic 3 s clips x 4 passthrough chains) in a temporary database, then times
through :class:`restoration.listening.arena.Arena` (no HTTP): serving a pair (the match row and two
dithered 24-bit copies), a play report and a vote (one ``BEGIN IMMEDIATE`` transaction each, WAL,
``synchronous=FULL``). Then times :func:`restoration.listening.leaderboard.leaderboard` (1000
bootstrap resamples) on synthetic Bradley-Terry votes for several numbers of votes and systems.
Prints one line per measurement (medians).
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from arena_crowd import Crowd, build_pool  # noqa: E402
from restoration.listening import ListeningStore  # noqa: E402
from restoration.listening.arena import Arena, ArenaRules, Vote  # noqa: E402
from restoration.listening.leaderboard import leaderboard  # noqa: E402


def median_ms(samples: list[float]) -> str:
    return f"{1000 * statistics.median(samples):.1f} ms"


def measure_votes(folder: Path, votes: int = 60) -> None:
    store = ListeningStore(folder / "listening.sqlite")
    build_pool(store, folder / "clips", seconds=3.0)
    now = [time.time()]  # the arena's clock: moved by hand past the listening time, the rules stay on
    arena = Arena(store, folder / "served", clock=lambda: now[0], rules=ArenaRules(visitor_votes_per_min=10 ** 6))
    arena.add_to_pool([store.list_tests()[0].id])
    arena.set_open(True)
    crowd, play, vote, serve = Crowd(), [], [], []
    view = arena.next("", "peer")
    while len(vote) < votes:
        if view.token is None:
            start = time.perf_counter()
            view = arena.next("", "peer")
            serve.append(time.perf_counter() - start)
        now[0] += arena.rules.min_vote_s
        for slot in "AB":
            start = time.perf_counter()
            arena.played(view.token, slot, view.min_play_s, visitor=view.visitor)
            play.append(time.perf_counter() - start)
        a, b = store._read("SELECT condition_a, condition_b FROM arena_matches WHERE token = ?", (view.token,))[0]
        start = time.perf_counter()
        view = arena.vote(view.visitor, view.token, crowd.vote(a, b), "peer")
        vote.append(time.perf_counter() - start)
        now[0] += 60.0 / arena.rules.peer_votes_per_min
    print(f"vote, incl. serving the next pair (two 3 s stereo 32 kHz copies): {median_ms(vote)}")
    print(f"a new visitor's first pair: {median_ms(serve)}")
    print(f"play report: {median_ms(play)}")
    arena.close()


def measure_leaderboard() -> None:
    rng = np.random.default_rng(0)
    for systems, count in itertools.product((4, 12), (200, 5000, 50000)):
        names = [f"s{k}" for k in range(systems)]
        strength = np.exp(rng.normal(size=systems))
        votes = []
        for k in range(count):
            a, b = rng.choice(systems, 2, replace=False)
            outcome = "A" if rng.random() < strength[a] / (strength[a] + strength[b]) else "B"
            votes.append(Vote(k, "v", "t", "t", "c", names[a], names[b], outcome, 2.0, 2.0, 5.0, ""))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            leaderboard(votes)
            times.append(time.perf_counter() - start)
        print(f"leaderboard, {systems} systems, {count} votes, 1000 bootstrap rounds: {median_ms(times)}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        measure_votes(Path(tmp))
    measure_leaderboard()
