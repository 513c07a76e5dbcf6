"""Listening-test protocols: trial design, per-listener randomization, and rendering a test."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from restoration import BadInputError, UnknownMethodError, load_audio, save_audio
from restoration.analysis.loudness import integrated_loudness
from restoration.listening import ListeningStore, build_test, bundled_clips, pair_clips
from restoration.listening.protocol import (ANCHOR, REFERENCE, design_trials, listener_plan, listener_seed,
                                            normalize_name)
from restoration.listening.render import PEAK_CEILING_DBFS, level_match

CONDITIONS = ("m1", "m2", "m3")
SECRET = bytes(range(32))


def plan_for(protocol, test_id, name, trials, secret=SECRET):
    return listener_plan(protocol, trials, listener_seed(secret, test_id, name))


# ------------------------------------------------------------------------------ design


def test_ab_design_has_every_pair_of_every_clip_once():
    trials = design_trials("ab", [("c1", CONDITIONS), ("c2", CONDITIONS)])
    assert len(trials) == 6
    pairs = Counter((t.clip, frozenset(t.conditions)) for t in trials)
    expected = {(clip, frozenset(pair)) for clip in ("c1", "c2") for pair in itertools.combinations(CONDITIONS, 2)}
    assert set(pairs) == expected and set(pairs.values()) == {1}


def test_mushra_design_is_one_screen_per_clip():
    trials = design_trials("mushra", [("c1", ("m1", "m2", REFERENCE, ANCHOR)), ("c2", ("m1", "m2"))])
    assert [(t.clip, len(t.conditions)) for t in trials] == [("c1", 4), ("c2", 2)]


@pytest.mark.parametrize("protocol, clips, message", [
    ("ab", [("c1", ("m1",))], "at least two conditions"),
    ("ab", [("c1", ("m1", "m2")), ("c1", ("m1", "m2"))], "clip names repeat"),
    ("abx", [("c1", ("m1", "m1"))], "appears twice"),
    ("mushra", [("c1", tuple(f"m{k}" for k in range(13)))], "at most 12"),
    ("triangle", [("c1", ("m1", "m2"))], "unknown protocol"),
    ("ab", [], "at least one clip"),
])
def test_bad_designs_raise_one_line_errors(protocol, clips, message):
    with pytest.raises(BadInputError, match=message) as info:
        design_trials(protocol, clips)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------ listeners


def test_names_are_normalized_and_checked():
    assert normalize_name("  Ann \t Lee ") == "Ann Lee"
    assert listener_seed(SECRET, "t1", " ANN  lee") == listener_seed(SECRET, "t1", "ann lee")
    assert listener_seed(SECRET, "t1", "ann") != listener_seed(SECRET, "t2", "ann")
    # Without the database's secret the seed cannot be computed from the test id and the name.
    assert listener_seed(SECRET, "t1", "ann") != listener_seed(b"another secret", "t1", "ann")
    for bad in ("", "   ", None, "x" * 81):
        with pytest.raises(BadInputError):
            normalize_name(bad)


@pytest.mark.parametrize("protocol", ["ab", "abx"])
def test_plan_is_reproducible_and_complete(protocol):
    trials = [(100 + k, 2) for k in range(9)]
    first = plan_for(protocol, "test-a", "Ann", trials)
    assert first == plan_for(protocol, "test-a", "ann ", trials)
    assert first != plan_for(protocol, "test-a", "Bob", trials)
    assert first != plan_for(protocol, "test-b", "Ann", trials)
    assert first != plan_for(protocol, "test-a", "Ann", trials, secret=b"another secret")
    assert sorted(p.trial for p in first) == [t for t, _ in trials]
    assert all(sorted(p.order) == [0, 1] for p in first)
    if protocol == "abx":
        assert {p.x for p in first} <= {0, 1}
    else:
        assert all(p.x is None for p in first)


def test_x_and_sides_are_drawn_per_trial_so_no_answer_follows_from_the_others():
    """Balanced flags put X = A in exactly half of a listener's trials, so a listener sure of n - 1
    answers knows the last. Drawn per trial, the number of X = A in a plan of 10 is Binomial(10, 1/2)
    (exactly 5 in 24.6 % of plans, not in all), and after 5 X = A among the first 9 the last X is
    still A half of the time (balanced flags: never)."""
    trials = [(k, 2) for k in range(10)]
    x_is_a, swapped = Counter(), Counter()
    last_after_five = []
    for i in range(2000):
        plan = plan_for("abx", "independent", f"listener {i}", trials)
        xs = [p.x == 0 for p in plan]
        x_is_a[sum(xs)] += 1
        swapped[sum(p.order == (1, 0) for p in plan)] += 1
        if sum(xs[:-1]) == 5:
            last_after_five.append(xs[-1])
    half = math.comb(10, 5) / 2 ** 10  # 0.246; sd over 2000 plans 0.0096
    for counts in (x_is_a, swapped):
        assert abs(counts[5] / 2000 - half) < 0.05
        assert all(counts[k] > 0 for k in range(1, 10))
    # About 490 plans qualify (sd of the share 0.023).
    assert len(last_after_five) > 300 and abs(np.mean(last_after_five) - 0.5) < 0.1


def test_sides_order_and_x_are_balanced_over_listeners():
    trials = [(k, 2) for k in range(6)]
    listeners = 600
    a_side = Counter()   # trial -> listeners who hear its first condition as A
    x_is_a = Counter()
    first = Counter()    # trial -> listeners who get it first
    for i in range(listeners):
        plan = plan_for("abx", "balance", f"listener {i}", trials)
        first[plan[0].trial] += 1
        for p in plan:
            a_side[p.trial] += p.order == (0, 1)
            x_is_a[p.trial] += p.x == 0
    # Binomial(600, 1/2) has sd 12.2: 0.5 +- 0.08 is more than 6 sd.
    for trial, _ in trials:
        assert abs(a_side[trial] / listeners - 0.5) < 0.08
        assert abs(x_is_a[trial] / listeners - 0.5) < 0.08
        assert abs(first[trial] / listeners - 1 / 6) < 0.06


def test_mushra_rows_are_permutations_spread_over_listeners():
    trials = [(7, 4), (8, 4)]
    top = Counter()
    for i in range(400):
        plan = plan_for("mushra", "m", f"l{i}", trials)
        assert sorted(p.trial for p in plan) == [7, 8]
        for p in plan:
            assert sorted(p.order) == [0, 1, 2, 3] and p.x is None
            top[p.order[0]] += 1
    # 800 screens: each condition on the top row about a quarter of the time (sd 12).
    assert all(abs(top[k] / 800 - 0.25) < 0.06 for k in range(4))


def test_plan_rejects_trials_of_the_wrong_size():
    with pytest.raises(BadInputError, match="not 2"):
        listener_plan("ab", [(1, 3)], 5)


# ------------------------------------------------------------------------------ rendering


@pytest.fixture
def clips(tmp_path, music):
    """A degraded-looking clip at 32 kHz (quiet) and its clean 48 kHz reference (loud)."""
    source = save_audio(tmp_path / "song.wav", 0.2 * music(sr=32000, seconds=1.5, seed=1), 32000)
    reference = save_audio(tmp_path / "song_clean.flac", music(sr=48000, seconds=1.5, seed=1), 48000)
    return source, reference


def test_pair_clips_matches_references_by_name(tmp_path, clips):
    source, reference = clips
    (pair,) = pair_clips([source], [reference])
    assert pair.name == "song" and pair.reference == reference
    with pytest.raises(BadInputError, match="matches no clip"):
        pair_clips([source], [tmp_path / "other_clean.wav"])
    assert [c.name for c in pair_clips([source, tmp_path / "x" / "song.wav"])] == ["song", "song (2)"]


def test_bundled_clips_pair_clean_files(tmp_path, music):
    for name in ("a.wav", "a_clean.wav", "b.flac", "c.flac", "c_clean_reference.flac", "d_clean.wav", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = {c.name: c.reference for c in bundled_clips(tmp_path)}
    assert found == {"a": tmp_path / "a_clean.wav", "b": None, "c": tmp_path / "c_clean_reference.flac",
                     "d_clean": None}
    assert bundled_clips(tmp_path / "missing") == []


def test_mushra_test_renders_loudness_matched_files_with_anchor(tmp_path, clips):
    store = ListeningStore(tmp_path / "db.sqlite")
    calls = []
    test_id = build_test(store, name="mushra", protocol="mushra", clips=pair_clips(*map(list, zip(clips))),
                         methods=["passthrough", "passthrough+passthrough"], target_lufs=-26.0,
                         progress=lambda done, total: calls.append(done / total))
    assert store.get_test(test_id).status == "ready"
    stimuli = store.stimuli(test_id)
    assert sorted(s.condition for s in stimuli.values()) == sorted(["passthrough", "passthrough+passthrough",
                                                                     REFERENCE, ANCHOR])
    levels = {}
    for s in stimuli.values():
        assert s.path.parent == store.media_dir(test_id) and s.path.suffix == ".flac"
        y, sr = load_audio(s.path)
        assert sr == 48000 == s.sample_rate and y.shape == (2, 72000)   # the highest rate of the versions
        levels[s.condition] = integrated_loudness(y, sr)
        assert np.max(np.abs(y)) <= 10 ** (PEAK_CEILING_DBFS / 20) + 1e-3
        assert s.loudness_lufs == pytest.approx(-26.0)
    # Every version plays at -26 LUFS (16-bit rounding aside), whatever its level before.
    assert max(levels.values()) - min(levels.values()) < 0.05
    assert levels["passthrough"] == pytest.approx(-26.0, abs=0.05)
    # The anchor keeps nothing above 3.5 kHz; the reference does.
    spectrum = {c: np.abs(np.fft.rfft(load_audio(stimuli[i].path)[0][0])) for i, c in
                ((i, s.condition) for i, s in stimuli.items()) if c in (REFERENCE, ANCHOR)}
    freqs = np.fft.rfftfreq(72000, 1 / 48000)
    high = freqs > 5000
    assert np.sum(spectrum[ANCHOR][high] ** 2) < 1e-4 * np.sum(spectrum[REFERENCE][high] ** 2)
    (trial,) = store.trials(test_id)
    assert trial.reference is not None and stimuli[trial.reference].condition == REFERENCE
    assert calls[-1] == 1.0 and calls == sorted(calls)


def test_level_match_lowers_every_version_alike_when_one_would_clip():
    t = np.arange(48000) / 48000
    tone = np.sin(2 * np.pi * 1000 * t)[None].astype(np.float32)
    spiky = 0.01 * tone.copy()
    spiky[0, ::4800] = 0.9  # loud clicks on a quiet tone: its peak/loudness ratio is far higher
    matched = level_match({"tone": 0.5 * tone, "spiky": spiky}, 48000, -10.0)
    (y1, l1, _), (y2, l2, _) = matched["tone"], matched["spiky"]
    assert l1 == l2 < -10.0
    assert max(np.max(np.abs(y1)), np.max(np.abs(y2))) == pytest.approx(10 ** (PEAK_CEILING_DBFS / 20), rel=1e-3)
    assert integrated_loudness(y1, 48000) == pytest.approx(integrated_loudness(y2, 48000), abs=0.01)


def test_ab_test_ignores_references_and_failed_builds_leave_nothing(tmp_path, clips):
    store = ListeningStore(tmp_path / "db.sqlite")
    source, reference = clips
    test_id = build_test(store, name="ab", protocol="ab", clips=pair_clips([source], [reference]),
                         methods=["passthrough", "passthrough+passthrough"])
    assert {s.condition for s in store.stimuli(test_id).values()} == {"passthrough", "passthrough+passthrough"}
    assert len(store.trials(test_id)) == 1
    with pytest.raises(BadInputError, match="at least two methods"):
        build_test(store, name="x", protocol="ab", clips=pair_clips([source]), methods=["passthrough"])
    with pytest.raises(UnknownMethodError):
        build_test(store, name="x", protocol="ab", clips=pair_clips([source]), methods=["passthrough", "nope"])
    broken = source.with_name("broken.wav")
    broken.write_bytes(b"not audio at all")
    with pytest.raises(BadInputError, match="cannot decode"):
        build_test(store, name="x", protocol="ab", clips=pair_clips([source, broken]),
                   methods=["passthrough", "passthrough+passthrough"])
    assert [t.id for t in store.list_tests()] == [test_id]
    assert [p.name for p in store.media_root.iterdir()] == [test_id]
