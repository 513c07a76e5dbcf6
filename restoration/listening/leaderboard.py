"""The arena's leaderboard: Bradley-Terry scores with bootstrap intervals, tables, a chart and the CSV.

Every vote is one comparison of two conditions on one clip. A tie counts as half a win for each side
(the convention of :func:`restoration.listening.stats.bradley_terry`), and every compared pair gets
:data:`PRIOR` virtual wins each way (a virtual tie), which keeps a system that never lost finite.
Strengths ``p`` are reported on the Elo scale of the public arenas: ``score = 1000 + 400 log10(p / g)``
with ``g`` the geometric mean of all strengths, so the scores average 1000 and a lead of 400 points
means 10:1 odds of being preferred. The 95 % intervals are percentiles of the same score over
:data:`ROUNDS` bootstrap resamples of the votes (drawn with replacement, the fit repeated on each).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.sparse.csgraph import connected_components

from .arena import Vote
from .stats import bradley_terry

#: Virtual wins each way per compared pair (one virtual tie).
PRIOR = 0.5
#: Bootstrap resamples of the votes.
ROUNDS = 1000
CONFIDENCE = 0.95
CSV_COLUMNS = ("vote", "voted_at", "visitor", "test", "clip", "system_a", "system_b", "vote_for", "preferred",
               "played_a_s", "played_b_s", "seconds_to_vote")


@dataclass
class Board:
    """The leaderboard: one row per system (best first), one per (clip, system), and notes."""

    votes: int
    rows: list[dict] = field(default_factory=list)
    clips: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def scores(wins: np.ndarray, *, prior: float = PRIOR) -> np.ndarray:
    """Elo-scale scores of ``wins[..., i, j]`` (ties split): ``1000 + 400 log10(p_i / geometric mean)``."""
    p = bradley_terry(wins, prior=prior, tol=1e-9)
    log_p = np.log10(np.maximum(p, 1e-300))
    return 1000.0 + 400.0 * (log_p - log_p.mean(axis=-1, keepdims=True))


def leaderboard(votes: Sequence[Vote], *, rounds: int = ROUNDS, seed: int = 0, confidence: float = CONFIDENCE) -> Board:
    """Rank the systems of ``votes``; works with no votes, one system, only ties, and disjoint groups."""
    board = Board(len(votes))
    if not votes:
        board.notes.append("No votes yet.")
        return board
    names = sorted({v.condition_a for v in votes} | {v.condition_b for v in votes})
    index = {name: k for k, name in enumerate(names)}
    m = len(names)
    # Each vote as (i, j, credit of i): credit 1, 0 or 0.5 (tie).
    i = np.array([index[v.condition_a] for v in votes])
    j = np.array([index[v.condition_b] for v in votes])
    credit = np.array([{"A": 1.0, "B": 0.0}.get(v.outcome, 0.5) for v in votes])
    # Votes fall into categories (a, b, credit); a bootstrap round redraws their counts (multinomial),
    # so the work per round does not grow with the number of votes.
    kinds, counts = np.unique(np.stack([i, j, 2 * credit], axis=1), axis=0, return_counts=True)
    basis = np.zeros((len(kinds), m, m))
    for k, (a, b, twice) in enumerate(kinds):
        basis[k, int(a), int(b)] += twice / 2
        basis[k, int(b), int(a)] += 1.0 - twice / 2
    matrix = (counts @ basis.reshape(len(kinds), -1)).reshape(m, m)
    point = scores(matrix[None])[0]
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(votes), counts / len(votes), size=max(int(rounds), 1))
    boot = scores((draws @ basis.reshape(len(kinds), -1)).reshape(-1, m, m))
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(boot, [tail, 100.0 - tail], axis=0)
    order = sorted(range(m), key=lambda k: (-round(point[k], 6), names[k]))
    for rank, k in enumerate(order, start=1):
        points = float(credit[i == k].sum() + (1.0 - credit[j == k]).sum())
        ties = int((credit[i == k] == 0.5).sum() + (credit[j == k] == 0.5).sum())
        played = int((i == k).sum() + (j == k).sum())
        wins = int(round(points - ties / 2))
        board.rows.append({"rank": rank, "system": names[k], "score": float(point[k]), "low": float(low[k]),
                           "high": float(high[k]), "votes": played, "wins": wins, "ties": ties,
                           "losses": played - wins - ties,
                           "win_rate": points / played})
    board.clips = _clip_rows(votes)
    board.notes.append(f"{len(votes)} vote(s) on {m} system(s); ties count as half a win for each side; "
                       f"{int(confidence * 100)} % intervals from {rounds} bootstrap resamples of the votes.")
    groups, labels = connected_components((matrix > 0).astype(int), directed=False)
    if groups > 1:
        parts = [", ".join(names[k] for k in range(m) if labels[k] == g) for g in range(groups)]
        board.notes.append("Some systems never met each other, so their scores are not comparable across these "
                           "groups: " + " | ".join(parts))
    return board


def _clip_rows(votes: Sequence[Vote]) -> list[dict]:
    """Per clip and system: votes, wins, ties, losses and the win rate (ties as half)."""
    tally: dict[tuple[str, str], list[float]] = {}
    for v in votes:
        clip = f"{v.test_name} / {v.clip}"
        for side, name in (("A", v.condition_a), ("B", v.condition_b)):
            row = tally.setdefault((clip, name), [0, 0, 0, 0])
            row[0] += 1
            if v.outcome == "tie":
                row[2] += 1
            else:
                row[1 if v.outcome == side else 3] += 1
    return [{"clip": clip, "system": name, "votes": n, "wins": w, "ties": t, "losses": lost,
             "win_rate": (w + t / 2) / n}
            for (clip, name), (n, w, t, lost) in sorted(tally.items())]


def board_figure(board: Board):
    """The scores with their intervals as a horizontal chart (matplotlib Figure, no pyplot state), or None."""
    from matplotlib.figure import Figure

    if not board.rows:
        return None
    rows = board.rows[::-1]
    fig = Figure(figsize=(7.0, 0.5 * len(rows) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    score = np.array([r["score"] for r in rows])
    err = np.vstack([score - [r["low"] for r in rows], [r["high"] for r in rows] - score])
    ax.errorbar(score, y, xerr=np.maximum(err, 0.0), fmt="o", color="#4c72b0", ecolor="black", capsize=4)
    ax.axvline(1000, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y, [f"{r['system']} ({r['votes']})" for r in rows])
    ax.set_xlabel("score (Elo scale, 95 % bootstrap interval); votes in brackets")
    ax.set_title(f"Arena leaderboard: {board.votes} vote(s)", fontsize=10)
    return fig


def export_votes_csv(votes: Sequence[Vote], path: str | os.PathLike) -> Path:
    """Write every vote as a CSV row (visitors as numbers, never their tokens or addresses)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS)
        writer.writeheader()
        for v in votes:
            writer.writerow({"vote": v.id, "voted_at": v.created_at, "visitor": v.visitor, "test": v.test_name,
                             "clip": v.clip, "system_a": v.condition_a, "system_b": v.condition_b,
                             "vote_for": v.outcome, "preferred": v.preferred, "played_a_s": f"{v.played_a:.2f}",
                             "played_b_s": f"{v.played_b:.2f}", "seconds_to_vote": f"{v.seconds_to_vote:.2f}"})
    return path
