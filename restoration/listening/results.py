"""Results of a listening test: tables, a bar chart and the CSV export of the raw answers.

* A/B: per method the wins, losses and ties over every comparison it took part in, the win rate
  ``wins / (wins + losses)`` (ties left out) with its 95 % Wilson interval, and the Bradley-Terry
  strength (ties split half-half) and rank (equal strengths share a rank); per pair of methods the
  exact two-sided sign test (ties left out).
* ABX: per pair of methods the share of correct answers, its Wilson interval and the one-sided
  binomial p-value against guessing (p = 1/2), plus all pairs together.
* MUSHRA: per condition (methods, hidden reference, anchor) the number of ratings and listeners, the
  mean rating and its 95 % t-interval over all ratings (listeners x clips), clipped to the 0-100
  scale, and the rank of the mean (equal means share a rank). Optionally listeners are
  post-screened as ITU-R BS.1534-3 says: one who rates the hidden reference below 90 in more than
  15 % of the trials that contain it is left out; the report says whether and whom.
"""

from __future__ import annotations

import csv
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from .protocol import ANCHOR, REFERENCE
from .stats import binomial_tail, bradley_terry, bt_mle_exists, sign_test, t_interval, wilson_interval
from .storage import Answer, ListeningStore, Stimulus, TestInfo

#: Virtual wins each way per compared pair when the Bradley-Terry MLE does not exist.
BT_PRIOR = 0.5
CSV_COLUMNS = ("test_id", "test_name", "protocol", "listener", "answered_at", "trial", "clip", "slot_a", "slot_b",
               "slot_x", "response", "preferred", "correct", "condition", "rating", "elapsed_s", "played_s")
#: ITU-R BS.1534-3 post-screening: a hidden-reference rating below this is a miss...
SCREEN_REFERENCE_BELOW = 90.0
#: ... and a listener with misses in more than this share of the trials with a hidden reference is left out.
SCREEN_MAX_SHARE = 0.15
#: Strengths and means equal to this many decimals tie (the MM fit stops at a 1e-10 change).
TIE_DECIMALS = 8


@dataclass
class Results:
    """What the results page shows: a heading line, tables (title -> rows) and the chart data."""

    test: TestInfo
    listeners: int
    finished: int
    answers: int
    tables: dict[str, list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: (label, value, low, high) per bar; value and bounds in the table's unit.
    bars: list[tuple[str, float, float, float]] = field(default_factory=list)
    bar_unit: str = ""
    #: Listeners left out by post-screening.
    excluded: list[str] = field(default_factory=list)


def summarize(store: ListeningStore, test_id: str, *, post_screening: bool = False) -> Results:
    """Everything the results page needs for one test; ``post_screening`` applies ITU-R BS.1534-3's
    listener screening to MUSHRA tests with a hidden reference (the notes say what was done)."""
    test = store.get_test(test_id)
    stimuli = store.stimuli(test_id)
    answers = store.answers(test_id)
    started, finished = store.listener_counts(test_id)
    results = Results(test, started, finished, len(answers))
    if test.protocol == "mushra":
        misses = screening_misses(stimuli, answers)
        if post_screening and misses:
            results.excluded = sorted(name for name, (missed, total) in misses.items()
                                      if missed > SCREEN_MAX_SHARE * total)
            answers = [a for a in answers if a.listener not in results.excluded]
            results.notes.append(
                f"Post-screening (ITU-R BS.1534-3) applied: listeners who rated the hidden reference below "
                f"{SCREEN_REFERENCE_BELOW:g} in more than {SCREEN_MAX_SHARE:.0%} of their trials are left out: "
                f"{len(results.excluded)} of {len(misses)}"
                + (f" ({', '.join(results.excluded)})." if results.excluded else "."))
        elif post_screening:
            results.notes.append("Post-screening (ITU-R BS.1534-3) needs a hidden reference; this test has none, "
                                 "so every listener is included.")
        else:
            results.notes.append("Post-screening (ITU-R BS.1534-3) not applied: every listener is included.")
    {"ab": _ab, "abx": _abx, "mushra": _mushra}[test.protocol](results, stimuli, answers)
    return results


def screening_misses(stimuli: dict[int, Stimulus], answers: list[Answer]) -> dict[str, tuple[int, int]]:
    """Per listener, ``(trials with the hidden reference rated below 90, trials with a hidden reference)``."""
    out: dict[str, list[int]] = {}
    for a in answers:
        for stimulus, score in (a.ratings or {}).items():
            if stimuli[stimulus].condition == REFERENCE:
                tally = out.setdefault(a.listener, [0, 0])
                tally[0] += float(score) < SCREEN_REFERENCE_BELOW
                tally[1] += 1
    return {name: (missed, total) for name, (missed, total) in out.items()}


def tied_ranks(values) -> list[int]:
    """Competition ranks, largest first (1, 2, 2, 4): values equal to :data:`TIE_DECIMALS` decimals
    share a rank; nan ranks last."""
    x = np.round(np.asarray(values, dtype=np.float64), TIE_DECIMALS)
    return [int(r) for r in rankdata(np.where(np.isnan(x), np.inf, -x), method="min")]


def _methods(test: TestInfo, stimuli: dict[int, Stimulus]) -> list[str]:
    names = list(test.settings.get("methods") or [])
    others = {s.condition for s in stimuli.values()} - set(names)
    return names + sorted(others, key=lambda c: (c in (REFERENCE, ANCHOR), c == ANCHOR, c))


def _ab(results: Results, stimuli: dict[int, Stimulus], answers: list[Answer]) -> None:
    names = _methods(results.test, stimuli)
    index = {n: i for i, n in enumerate(names)}
    m = len(names)
    wins = np.zeros((m, m))
    ties = np.zeros((m, m))
    for a in answers:
        first, second = (index[stimuli[s].condition] for s in a.presented)
        if a.response == "none":
            ties[first, second] += 1
            ties[second, first] += 1
        else:
            winner, loser = (first, second) if a.response == "A" else (second, first)
            wins[winner, loser] += 1
    split = wins + 0.5 * ties
    exists = bt_mle_exists(split)
    strength = bradley_terry(split, prior=0.0 if exists else BT_PRIOR) if split.sum() else np.full(m, 1.0 / m)
    if not exists and split.sum():
        results.notes.append(f"Bradley-Terry: some method never won (or the comparisons do not connect every "
                             f"method), so {BT_PRIOR} virtual wins each way per compared pair keep the strengths finite.")
    rank = tied_ranks(strength)
    rows = []
    for i, name in enumerate(names):
        won, lost, tied = int(wins[i].sum()), int(wins[:, i].sum()), int(ties[i].sum())
        low, high = wilson_interval(won, won + lost)
        rate = won / (won + lost) if won + lost else float("nan")
        rows.append({"method": name, "n": won + lost + tied, "wins": won, "losses": lost, "ties": tied,
                     "win_rate": rate, "ci95_low": low, "ci95_high": high, "bt_strength": float(strength[i]),
                     "bt_rank": rank[i]})
        results.bars.append((name, 100 * rate, 100 * low, 100 * high))
    results.tables["Methods (win rate excludes ties)"] = sorted(rows, key=lambda r: (r["bt_rank"], r["method"]))
    results.tables["Pairs (exact sign test, ties excluded)"] = [
        {"method_1": names[i], "method_2": names[j], "wins_1": int(wins[i, j]), "wins_2": int(wins[j, i]),
         "ties": int(ties[i, j]), "p_value": sign_test(int(wins[i, j]), int(wins[j, i]))}
        for i, j in itertools.combinations(range(m), 2) if wins[i, j] + wins[j, i] + ties[i, j] > 0]
    results.bar_unit = "win rate, % (95 % Wilson interval)"


def _abx(results: Results, stimuli: dict[int, Stimulus], answers: list[Answer]) -> None:
    names = _methods(results.test, stimuli)
    counts: dict[tuple[str, str], list[int]] = {}
    for a in answers:
        pair = tuple(sorted((stimuli[s].condition for s in a.presented), key=names.index))
        x_slot = "A" if a.x_stimulus == a.presented[0] else "B"
        tally = counts.setdefault(pair, [0, 0])
        tally[0] += a.response == x_slot
        tally[1] += 1
    rows = []
    for (first, second), (correct, n) in sorted(counts.items(), key=lambda kv: [names.index(c) for c in kv[0]]):
        rows.append(_abx_row(f"{first} vs {second}", correct, n))
    if len(counts) > 1:
        rows.append(_abx_row("all pairs", sum(c for c, _ in counts.values()), sum(n for _, n in counts.values())))
    for row in rows:
        results.bars.append((row["pair"], 100 * row["correct_rate"], 100 * row["ci95_low"], 100 * row["ci95_high"]))
    results.tables["ABX (one-sided binomial test against guessing)"] = rows
    results.bar_unit = "correct, % (95 % Wilson interval; 50 % = guessing)"


def _abx_row(label: str, correct: int, n: int) -> dict:
    low, high = wilson_interval(correct, n)
    return {"pair": label, "correct": correct, "trials": n, "correct_rate": correct / n if n else float("nan"),
            "ci95_low": low, "ci95_high": high, "p_value": binomial_tail(correct, n)}


def _mushra(results: Results, stimuli: dict[int, Stimulus], answers: list[Answer]) -> None:
    names = _methods(results.test, stimuli)
    ratings: dict[str, list[float]] = {n: [] for n in names}
    listeners: dict[str, set[str]] = {n: set() for n in names}
    for a in answers:
        for stimulus, score in (a.ratings or {}).items():
            ratings[stimuli[stimulus].condition].append(float(score))
            listeners[stimuli[stimulus].condition].add(a.listener)
    means = [t_interval(ratings[name]) for name in names]
    ranks = tied_ranks([mean for mean, _ in means])
    rows = []
    for name, (mean, half), rank in zip(names, means, ranks):
        label = {REFERENCE: "hidden reference", ANCHOR: "anchor (3.5 kHz low-pass)"}.get(name, name)
        low, high = (float(np.clip(mean - half, 0.0, 100.0)), float(np.clip(mean + half, 0.0, 100.0))) \
            if np.isfinite(half) else (float("nan"), float("nan"))
        rows.append({"condition": label, "ratings": len(ratings[name]), "listeners": len(listeners[name]),
                     "mean": mean, "ci95_half_width": half, "ci95_low": low, "ci95_high": high, "rank": rank})
        results.bars.append((label, mean, low, high))
    results.tables["MUSHRA ratings (mean and 95 % t-interval, clipped to 0-100)"] = rows
    results.bar_unit = "rating, 0-100 (mean and 95 % t-interval)"


def results_figure(results: Results):
    """A bar chart of ``results.bars`` with interval whiskers (matplotlib Figure, no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    labels = [b[0] for b in results.bars]
    values = np.array([b[1] for b in results.bars], dtype=float)
    low = np.array([b[2] for b in results.bars], dtype=float)
    high = np.array([b[3] for b in results.bars], dtype=float)
    x = np.arange(len(labels))
    shown = np.nan_to_num(values)
    ax.bar(x, shown, color="#4c72b0")
    # Whiskers never point the wrong way (matplotlib refuses negative lengths), nan draws none.
    err = np.clip(np.vstack([np.nan_to_num(values - low), np.nan_to_num(high - values)]), 0.0, None)
    ax.errorbar(x, shown, yerr=err, fmt="none", ecolor="black", capsize=4)
    if results.test.protocol in ("ab", "abx"):
        ax.axhline(50, color="grey", linestyle="--", linewidth=1)
    ax.set_ylim(0, 100)
    ax.set_xticks(x, labels, rotation=20 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center")
    ax.set_ylabel(results.bar_unit.split(",")[0])
    ax.set_title(f"{results.test.name}: {results.bar_unit}", fontsize=10)
    return fig


def export_csv(store: ListeningStore, test_id: str, path: str | os.PathLike) -> Path:
    """Write every raw answer of a test as CSV (one row per answer, one per rating in MUSHRA)."""
    test = store.get_test(test_id)
    stimuli = store.stimuli(test_id)
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS)
        writer.writeheader()
        for a in store.answers(test_id):
            shown = [stimuli[s].condition for s in a.presented]
            base = {"test_id": test.id, "test_name": test.name, "protocol": test.protocol, "listener": a.listener,
                    "answered_at": a.created_at, "trial": a.position, "clip": a.clip, "response": a.response,
                    "elapsed_s": "" if a.elapsed_s is None else f"{a.elapsed_s:.2f}",
                    "played_s": " ".join(f"{k}:{v:.1f}" for k, v in (a.played or {}).items())}
            if test.protocol == "mushra":
                for stimulus in a.presented:
                    writer.writerow({**base, "condition": stimuli[stimulus].condition, "rating": a.ratings[stimulus]})
                continue
            base.update(slot_a=shown[0], slot_b=shown[1])
            if test.protocol == "ab":
                base["preferred"] = {"A": shown[0], "B": shown[1]}.get(a.response, "")
            else:
                x_slot = "A" if a.x_stimulus == a.presented[0] else "B"
                base.update(slot_x=stimuli[a.x_stimulus].condition, correct=int(a.response == x_slot))
            writer.writerow(base)
    return path
