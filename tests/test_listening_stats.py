"""Statistics of listening tests against values worked out by hand, and the results of stored answers."""

import csv
import io
import math

import numpy as np
import pytest

from restoration.listening import export_csv, results_figure, summarize
from restoration.listening.stats import (binomial_tail, bradley_terry, bt_mle_exists, sign_test, t_interval,
                                         wilson_interval)
MUSHRA_TABLE = "MUSHRA ratings (mean and 95 % t-interval, clipped to 0-100)"

from test_listening_storage import answer_all, make_test, store  # noqa: F401 (store is a fixture)


def test_wilson_interval_of_7_in_10():
    # z = 1.9599640, z^2/n = 0.3841459; centre = (0.7 + 0.1920729) / 1.3841459 = 0.6444934;
    # half = z * sqrt(0.7 * 0.3 / 10 + z^2 / 400) / 1.3841459 = 1.959964 * 0.1749390 / 1.3841459 = 0.2477153.
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.6444934 - 0.2477153, abs=2e-7)
    assert high == pytest.approx(0.6444934 + 0.2477153, abs=2e-7)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0) and wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_sign_test_of_9_in_10():
    # Two-sided: 2 * P(X >= 9) = 2 * (C(10,9) + C(10,10)) / 2^10 = 22 / 1024.
    assert sign_test(9, 1) == pytest.approx(22 / 1024, rel=1e-12)
    assert sign_test(1, 9) == pytest.approx(22 / 1024, rel=1e-12)
    assert sign_test(5, 5) == 1.0 and sign_test(0, 0) == 1.0


def test_abx_binomial_p_value():
    # P(X >= 8 | n = 10, p = 1/2) = (C(10,8) + C(10,9) + C(10,10)) / 1024 = 56 / 1024.
    assert binomial_tail(8, 10) == pytest.approx(56 / 1024, rel=1e-12)
    assert binomial_tail(0, 10) == pytest.approx(1.0)
    assert binomial_tail(10, 10) == pytest.approx(1 / 1024)


def test_t_interval_of_three_ratings():
    # mean 80, s = 10, t(0.975, 2) = 4.302653: half width 4.302653 * 10 / sqrt(3) = 24.84138.
    mean, half = t_interval([70, 80, 90])
    assert mean == 80.0 and half == pytest.approx(24.84138, abs=1e-4)
    assert math.isnan(t_interval([50])[1]) and math.isnan(t_interval([])[0])


def test_bradley_terry_on_hand_solvable_tables():
    # Two methods, 3 wins to 1: p1 / p2 = 3.
    assert bradley_terry(np.array([[0, 3], [1, 0]])) == pytest.approx([0.75, 0.25], abs=1e-8)
    # Strengths 4 : 2 : 1 satisfy W_i = sum_j n_ij p_i / (p_i + p_j) exactly for this table
    # (A: 6 = 3 * 4/6 + 5 * 4/5, B: 3 = 3 * 2/6 + 3 * 2/3, C: 2 = 5 * 1/5 + 3 * 1/3).
    wins = np.array([[0, 2, 4], [1, 0, 2], [1, 1, 0]])
    assert bt_mle_exists(wins)
    assert bradley_terry(wins) == pytest.approx(np.array([4, 2, 1]) / 7, abs=1e-8)
    # A tie is half a win each way: 2 wins + 2 ties against 0 wins = 3 : 1.
    assert bradley_terry(np.array([[0, 2 + 1], [0 + 1, 0]])) == pytest.approx([0.75, 0.25], abs=1e-8)


def test_bradley_terry_without_mle_needs_the_prior():
    never_won = np.array([[0, 4], [0, 0]])
    assert not bt_mle_exists(never_won)
    p = bradley_terry(never_won, prior=0.5)  # 4.5 : 0.5
    assert p == pytest.approx([0.9, 0.1], abs=1e-8)


# ------------------------------------------------------------------------------ results of stored answers


def test_ab_results_match_the_hand_statistics(store, tmp_path):  # noqa: F811
    test_id = make_test(store, "ab", conditions=("good", "bad"))
    # Ten listeners; seven prefer "good", two prefer "bad", one has no preference.
    conditions = {s.id: s.condition for s in store.stimuli(test_id).values()}
    for k in range(10):
        wanted = "good" if k < 7 else "bad" if k < 9 else None

        def choose(shown, x, wanted=wanted):
            if wanted is None:
                return "none", None
            return ("A" if conditions[shown[0]] == wanted else "B"), None

        answer_all(store, test_id, f"listener {k}", choose)
    results = summarize(store, test_id)
    assert (results.listeners, results.finished, results.answers) == (10, 10, 10)
    methods = {r["method"]: r for r in results.tables["Methods (win rate excludes ties)"]}
    good = methods["good"]
    assert (good["wins"], good["losses"], good["ties"], good["bt_rank"]) == (7, 2, 1, 1)
    assert good["win_rate"] == pytest.approx(7 / 9)
    assert (good["ci95_low"], good["ci95_high"]) == pytest.approx(wilson_interval(7, 9))
    # Bradley-Terry with the tie split: 7.5 : 2.5.
    assert good["bt_strength"] == pytest.approx(0.75, abs=1e-8)
    (pair,) = results.tables["Pairs (exact sign test, ties excluded)"]
    assert (pair["wins_1"], pair["wins_2"], pair["ties"]) == (7, 2, 1)
    assert pair["p_value"] == pytest.approx(2 * (1 + 9 + 36) / 512)  # 2 * P(X <= 2 | n = 9)
    fig = results_figure(results)
    assert [round(b.get_height(), 6) for b in fig.axes[0].patches] == [round(700 / 9, 6), round(200 / 9, 6)]
    path = export_csv(store, test_id, tmp_path / "answers.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 10
    assert sum(r["preferred"] == "good" for r in rows) == 7 and sum(r["response"] == "none" for r in rows) == 1
    assert all({r["slot_a"], r["slot_b"]} == {"good", "bad"} for r in rows)


def test_abx_results_count_correct_answers(store):  # noqa: F811
    test_id = make_test(store, "abx", conditions=("m1", "m2"), clips=("c1", "c2", "c3", "c4", "c5"))
    # One listener identifies X in 4 of 5 trials.
    answered = []

    def choose(shown, x):
        right = "A" if x == shown[0] else "B"
        answered.append(right)
        return (right if len(answered) < 5 else {"A": "B", "B": "A"}[right]), None

    answer_all(store, test_id, "Ann", choose)
    (row,) = summarize(store, test_id).tables["ABX (one-sided binomial test against guessing)"]
    assert (row["correct"], row["trials"]) == (4, 5)
    assert row["p_value"] == pytest.approx(6 / 32)  # (C(5,4) + C(5,5)) / 2^5


def test_mushra_results_label_reference_and_anchor(store, tmp_path):  # noqa: F811
    test_id = make_test(store, "mushra", conditions=("m1", "reference", "anchor"), reference="reference")
    scores = {"m1": [60, 70, 80], "reference": [100, 100, 100], "anchor": [10, 20, 30]}
    conditions = {s.id: s.condition for s in store.stimuli(test_id).values()}
    for k in range(3):
        answer_all(store, test_id, f"l{k}", lambda shown, x, k=k: (
            "ratings", {s: scores[conditions[s]][k] for s in shown}))
    rows = {r["condition"]: r for r in summarize(store, test_id).tables[MUSHRA_TABLE]}
    assert set(rows) == {"m1", "hidden reference", "anchor (3.5 kHz low-pass)"}
    assert rows["m1"]["mean"] == 70 and rows["m1"]["ci95_half_width"] == pytest.approx(24.84138, abs=1e-4)
    assert rows["hidden reference"]["ci95_half_width"] == 0.0
    rows_csv = list(csv.DictReader(export_csv(store, test_id, tmp_path / "m.csv").open()))
    assert len(rows_csv) == 9 and {r["condition"] for r in rows_csv} == {"m1", "reference", "anchor"}


def test_mushra_intervals_are_clipped_to_the_scale_and_ties_share_a_rank(store):  # noqa: F811
    test_id = make_test(store, "mushra", conditions=("m1", "m2", "m3", "reference"), reference="reference")
    scores = {"m1": [0, 100], "m2": [40, 60], "m3": [60, 40], "reference": [100, 100]}
    conditions = {s.id: s.condition for s in store.stimuli(test_id).values()}
    for k in range(2):
        answer_all(store, test_id, f"l{k}", lambda shown, x, k=k: (
            "ratings", {s: scores[conditions[s]][k] for s in shown}))
    rows = {r["condition"]: r for r in summarize(store, test_id).tables[MUSHRA_TABLE]}
    # n = 2, mean 50, s = 70.71: t(0.975, 1) * s / sqrt 2 = 12.706 * 50 = 635.3, far beyond the scale.
    m1 = rows["m1"]
    assert m1["ci95_half_width"] == pytest.approx(635.31, abs=0.01)
    assert (m1["ci95_low"], m1["ci95_high"]) == (0.0, 100.0)
    assert (rows["hidden reference"]["ci95_low"], rows["hidden reference"]["ci95_high"]) == (100.0, 100.0)
    # m1, m2 and m3 all have mean 50: one shared rank after the reference.
    assert [rows[c]["rank"] for c in ("hidden reference", "m1", "m2", "m3")] == [1, 2, 2, 2]
    assert all(rows[c]["ratings"] == 2 and rows[c]["listeners"] == 2 for c in rows)
    assert any("not applied" in note for note in summarize(store, test_id).notes)


def test_post_screening_drops_listeners_who_miss_the_hidden_reference(store):  # noqa: F811
    clips = tuple(f"c{k}" for k in range(10))
    test_id = make_test(store, "mushra", conditions=("m1", "reference"), clips=clips, reference="reference")
    conditions = {s.id: s.condition for s in store.stimuli(test_id).values()}

    def rater(misses):
        """Rates the hidden reference 80 in the first ``misses`` of 10 trials, else 100; m1 gets 30."""
        count = []

        def choose(shown, x):
            count.append(1)
            low = len(count) <= misses
            return "ratings", {s: (30 if conditions[s] == "m1" else 100 if not low else 80) for s in shown}

        return choose

    for name, misses in (("careful", 0), ("one slip", 1), ("deaf", 2)):  # 0 %, 10 %, 20 % of trials
        # A listener who rates the reference 80 rates m1 100 to keep the "one at 100" rule.
        answer_all(store, test_id, name, lambda shown, x, f=rater(misses): _keep_100(f(shown, x), conditions))
    plain = summarize(store, test_id)
    screened = summarize(store, test_id, post_screening=True)
    assert plain.excluded == [] and screened.excluded == ["deaf"]
    assert any("1 of 3 (deaf)" in note for note in screened.notes)
    rows = {r["condition"]: r for r in screened.tables[MUSHRA_TABLE]}
    assert rows["hidden reference"]["listeners"] == 2 and rows["hidden reference"]["ratings"] == 20
    ab = make_test(store, "ab", name="ab")
    assert not any("Post-screening" in note for note in summarize(store, ab, post_screening=True).notes)


def _keep_100(answer, conditions):
    response, ratings = answer
    if max(ratings.values()) < 100:
        ratings = {s: (100 if conditions[s] == "m1" else v) for s, v in ratings.items()}
    return response, ratings


def test_tied_strengths_share_a_rank(store):  # noqa: F811
    test_id = make_test(store, "ab", conditions=("m1", "m2", "m3"))
    conditions = {s.id: s.condition for s in store.stimuli(test_id).values()}
    beats = {("m1", "m2"): "m1", ("m1", "m3"): "m1", ("m2", "m3"): None}  # m2 and m3 tie, m1 wins all

    def choose(shown, x):
        pair = tuple(sorted(conditions[s] for s in shown))
        winner = beats[pair]
        return ("none" if winner is None else "A" if conditions[shown[0]] == winner else "B"), None

    for k in range(3):
        answer_all(store, test_id, f"l{k}", choose)
    rows = {r["method"]: r for r in summarize(store, test_id).tables["Methods (win rate excludes ties)"]}
    assert rows["m1"]["bt_rank"] == 1 and rows["m2"]["bt_rank"] == rows["m3"]["bt_rank"] == 2
    assert rows["m2"]["bt_strength"] == pytest.approx(rows["m3"]["bt_strength"])
    assert rows["m1"]["n"] == 6 and rows["m2"]["n"] == 6


# ------------------------------------------------------------------------------ the edges never fail


def render_results(store, test_id, tmp_path):
    """Everything the Results page makes of a test: the summary, the chart drawn to PNG, the CSV rows."""
    results = summarize(store, test_id)
    fig = results_figure(results)
    fig.savefig(io.BytesIO(), format="png")
    for line in fig.axes[0].collections:  # the whiskers: never negative, never past the scale
        for segment in line.get_segments():
            assert np.all(np.isfinite(segment)) and segment[:, 1].min() >= -1e-9 and segment[:, 1].max() <= 100 + 1e-9
    rows = list(csv.DictReader(export_csv(store, test_id, tmp_path / "answers.csv").open()))
    return results, rows


def wrong(shown, x):
    return ("B" if x == shown[0] else "A"), None


def right(shown, x):
    return ("A" if x == shown[0] else "B"), None


@pytest.mark.parametrize("choose, correct", [(right, 60), (wrong, 0)])
def test_abx_at_100_and_0_percent_correct(store, tmp_path, choose, correct):  # noqa: F811
    """60 of 60 gave a Wilson upper bound of 0.9999999999999997, below the bar: a negative whisker
    that made matplotlib (and the Results page) fail."""
    test_id = make_test(store, "abx", conditions=("m1", "m2"), clips=tuple(f"c{k}" for k in range(60)))
    answer_all(store, test_id, "Ann", choose)
    results, rows = render_results(store, test_id, tmp_path)
    (row,) = results.tables["ABX (one-sided binomial test against guessing)"]  # one pair: no "all pairs" row
    assert (row["correct"], row["trials"]) == (correct, 60)
    low, high = wilson_interval(correct, 60)
    assert (row["ci95_low"], row["ci95_high"]) == (low, high)
    assert low <= correct / 60 <= high and (high == 1.0 if correct else low == 0.0)
    assert row["p_value"] == (pytest.approx(2.0 ** -60) if correct else 1.0)
    assert len(rows) == 60 and {r["correct"] for r in rows} == {"1" if correct else "0"}


@pytest.mark.parametrize("k, n", [(0, 1), (1, 1), (0, 60), (60, 60), (1, 3), (299, 300), (300, 300)])
def test_wilson_interval_always_holds_the_proportion(k, n):
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    assert (low == 0.0) == (k == 0) and (high == 1.0) == (k == n)


@pytest.mark.parametrize("protocol", ["ab", "abx", "mushra"])
def test_one_listener_one_trial(store, tmp_path, protocol):  # noqa: F811
    reference = "reference" if protocol == "mushra" else None
    conditions = ("m1", "reference") if reference else ("m1", "m2")
    test_id = make_test(store, protocol, conditions=conditions, reference=reference)
    answer_all(store, test_id, "Ann", lambda shown, x: ("ratings", {s: 100 for s in shown}) if reference
               else right(shown, x))
    results, rows = render_results(store, test_id, tmp_path)
    assert (results.listeners, results.finished, results.answers) == (1, 1, 1)
    assert len(rows) == (2 if reference else 1)
    if protocol == "mushra":  # one rating per condition: a mean, no interval
        ratings = results.tables[MUSHRA_TABLE]
        assert [r["mean"] for r in ratings] == [100.0, 100.0] and all(math.isnan(r["ci95_low"]) for r in ratings)
    elif protocol == "abx":
        (row,) = results.tables["ABX (one-sided binomial test against guessing)"]
        assert (row["correct"], row["trials"], row["ci95_high"], row["p_value"]) == (1, 1, 1.0, 0.5)
    else:
        winner, loser = results.tables["Methods (win rate excludes ties)"]
        assert (winner["wins"], winner["win_rate"], winner["ci95_high"]) == (1, 1.0, 1.0)
        assert (loser["losses"], loser["win_rate"], loser["ci95_low"]) == (1, 0.0, 0.0)


def test_all_ties(store, tmp_path):  # noqa: F811
    test_id = make_test(store, "ab", conditions=("m1", "m2", "m3"), clips=("c1", "c2"))
    for name in ("Ann", "Bob"):
        answer_all(store, test_id, name, lambda shown, x: ("none", None))
    results, rows = render_results(store, test_id, tmp_path)
    methods = results.tables["Methods (win rate excludes ties)"]
    assert [(r["wins"], r["losses"], r["ties"]) for r in methods] == [(0, 0, 8)] * 3
    assert all(math.isnan(r["win_rate"]) and r["bt_rank"] == 1 for r in methods)
    assert [r["bt_strength"] for r in methods] == pytest.approx([1 / 3] * 3)
    assert all(p["p_value"] == 1.0 for p in results.tables["Pairs (exact sign test, ties excluded)"])
    assert len(rows) == 12 and {r["preferred"] for r in rows} == {""}


def test_one_condition_rated_and_no_answers_yet(store, tmp_path):  # noqa: F811
    """A MUSHRA screen of one method beside its hidden reference, identical ratings (a zero-width
    interval), and a test nobody answered: the page and the CSV still come out."""
    test_id = make_test(store, "mushra", conditions=("m1", "reference"), clips=("c1", "c2"), reference="reference")
    results, rows = render_results(store, test_id, tmp_path)
    assert results.answers == 0 and rows == [] and all(r["ratings"] == 0 for r in results.tables[MUSHRA_TABLE])
    for name in ("Ann", "Bob"):
        answer_all(store, test_id, name, lambda shown, x: ("ratings", {s: 100 for s in shown}))
    results, rows = render_results(store, test_id, tmp_path)
    assert [(r["mean"], r["ci95_half_width"], r["ci95_low"], r["ci95_high"]) for r in results.tables[MUSHRA_TABLE]] \
        == [(100.0, 0.0, 100.0, 100.0)] * 2
    assert len(rows) == 8
