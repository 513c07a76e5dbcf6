"""Serving listening tests: nothing sent to a listener reveals the answer, and the server checks every rule."""

import hashlib
import json
import shutil
import sqlite3
import time

import numpy as np
import pytest
import soundfile as sf

from restoration import BadInputError, save_audio
from restoration.listening import ListeningService, ListeningStore, build_test, listener_plan, pair_clips
from restoration.listening.session import MIN_PLAY_S, required_play_s

CHAINS = ["passthrough", "passthrough+passthrough", "passthrough+passthrough+passthrough"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from signals import make_music

    folder = tmp_path_factory.mktemp("clips")
    sources, references = [], []
    for k in range(3):
        sources.append(save_audio(folder / f"song{k}.wav", 0.3 * make_music(sr=32000, seconds=1.0, seed=k), 32000))
        references.append(save_audio(folder / f"song{k}_clean.wav", make_music(sr=48000, seconds=1.0, seed=k), 48000))
    return sources, references


@pytest.fixture
def store(tmp_path):
    return ListeningStore(tmp_path / "db.sqlite")


@pytest.fixture
def service(store, tmp_path):
    service = ListeningService(store, tmp_path / "scratch")
    yield service
    service.close()


def make_abx(store, clips, n_clips=3, **kwargs):
    return build_test(store, name="abx", protocol="abx", clips=pair_clips(clips[0][:n_clips]), methods=CHAINS[:2],
                      **kwargs)


def make_mushra(store, clips, **kwargs):
    return build_test(store, name="mushra", protocol="mushra", clips=pair_clips(clips[0][:1], clips[1][:1]),
                      methods=CHAINS[:2], **kwargs)


def play_all(service, view, seconds=None):
    """Report that every answer slot (not the open reference) was heard long enough."""
    for slot in view.slots:
        if slot.key != "R":
            service.played(view.token, slot.key, seconds if seconds is not None else view.min_play_s)


def shown_conditions(store, token):
    """Server side: the condition behind each slot of a presentation."""
    shown = store.presentation(token)
    stimuli = store.stimuli(shown.test_id)
    return {key: stimuli[s].condition for key, s in shown.slots.items()}


def correct_abx(store, view):
    conditions = shown_conditions(store, view.token)
    return "A" if conditions["X"] == conditions["A"] else "B"


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# ------------------------------------------------------------------------------ nothing leaks


def test_every_slot_of_every_listener_has_its_own_file_url_and_bytes(store, service, clips):
    test_id = make_mushra(store, clips)
    views = [service.join(test_id, name) for name in ("Ann", "Bob")]
    views.append(service.join(test_id, "Ann"))  # a second visit of the same listener
    paths = [slot.path for view in views for slot in view.slots]
    assert len(paths) == 3 * 5  # 4 rated samples + the open reference, three times
    assert len({p.name for p in paths}) == len(paths)  # no two slots, listeners or visits share a name
    assert len({p.parent for p in paths}) == 2  # one scratch folder per listener, and Ann's is reused
    # The open reference and the hidden reference are the same audio: the same sound (the dither of
    # each copy moves a sample by at most one 24-bit step), the same size and header, other bytes.
    view = views[1]
    conditions = shown_conditions(store, view.token)
    hidden = next(k for k, c in conditions.items() if c == "reference" and k != "R")
    by_key = {s.key: s.path for s in view.slots}
    rendered = sf.read(store.stimuli(test_id)[store.presentation(view.token).slots["R"]].path, dtype="int32")[0] >> 8
    for key in ("R", hidden):
        assert np.abs((sf.read(by_key[key], dtype="int32")[0] >> 8) - rendered).max() == 1
    assert sha(by_key["R"]) != sha(by_key[hidden])
    assert len({p.stat().st_size for p in by_key.values()}) == 1
    assert len({p.read_bytes()[:44] for p in by_key.values()}) == 1
    # The file names say nothing: random, not the rendered file's name, a condition or the test id.
    rendered_names = {s.path.name for s in store.stimuli(test_id).values()}
    for path in paths:
        assert path.name not in rendered_names and test_id not in str(path)
        assert not any(c in path.name for c in ("passthrough", "reference", "anchor"))


def make_ab(store, clips, **kwargs):
    return build_test(store, name="ab", protocol="ab", clips=pair_clips(clips[0][:1]), methods=CHAINS[:2], **kwargs)


@pytest.mark.parametrize("make", [make_ab, make_abx, make_mushra])
def test_the_files_of_a_trial_differ_in_their_bytes_only(store, service, clips, make):
    """A/B, ABX (X beside its source) and MUSHRA (hidden reference and anchor beside the open
    reference): one size, one header, one modification time, WAV; never the same bytes or name."""
    view = service.join(make(store, clips), "Ann")
    paths = [s.path for s in view.slots]
    assert len({sha(p) for p in paths}) == len({p.name for p in paths}) == len(paths) >= 2
    assert len({p.stat().st_size for p in paths}) == 1 and len({p.read_bytes()[:44] for p in paths}) == 1
    assert len({p.stat().st_mtime_ns for p in paths}) == 1 and {p.suffix for p in paths} == {".wav"}


def test_the_payload_carries_no_ids_seed_or_conditions(store, service, clips):
    test_id = make_abx(store, clips)
    view = service.join(test_id, "Ann")
    listener = store.join(test_id, "Ann")
    shown = store.presentation(view.token)
    text = json.dumps(view.payload(file=lambda p: p.name))
    for secret in (test_id, str(listener.seed), store.secret.hex(), *CHAINS, "c00v"):
        assert secret not in text
    assert set(json.loads(text)) == {"done", "message", "token", "protocol", "number", "total", "practice",
                                     "min_play_s", "needs_100", "responses", "slots"}
    assert [s["key"] for s in json.loads(text)["slots"]] == ["A", "B", "X"]
    # The token is random, not derived from the trial: showing the same trial again gives another.
    again = service.join(test_id, "Ann")
    assert store.presentation(again.token).trial_id == shown.trial_id and again.token != view.token
    assert len(view.token) >= 32


def test_order_depends_on_the_database_secret_not_on_what_the_client_knows(tmp_path, clips):
    """The same test (same id, same trials) and the same listener names with another secret give
    other orders: nothing the client sees (test id, name) determines which side is X."""
    store = ListeningStore(tmp_path / "a.sqlite")
    test_id = build_test(store, name="abx", protocol="abx", clips=pair_clips(clips[0]), methods=CHAINS)  # 9 trials
    shutil.copy(store.path, tmp_path / "b.sqlite")
    shutil.copytree(store.media_root, tmp_path / "b-media")
    with sqlite3.connect(tmp_path / "b.sqlite") as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'secret'", ("ab" * 32,))
    other = ListeningStore(tmp_path / "b.sqlite")
    assert other.secret != store.secret and other.get_test(test_id).name == "abx"

    def plan(s, name):
        listener = s.join(test_id, name)
        trials = s.trials(test_id)
        return listener_plan("abx", [(t.id, 2) for t in trials], listener.seed)

    names = [f"listener {k}" for k in range(10)]
    assert all(plan(store, n) == plan(store, n) for n in names)  # stable for one database
    assert all(plan(store, n) != plan(other, n) for n in names)
    # The X side agrees with the other database's by chance only (about half of 90 trials).
    agree = sum(a.x == b.x for n in names for a, b in zip(sorted(plan(store, n), key=lambda p: p.trial),
                                                           sorted(plan(other, n), key=lambda p: p.trial)))
    assert 25 <= agree <= 65


def test_a_new_database_gets_its_own_secret_once(tmp_path):
    first = ListeningStore(tmp_path / "a.sqlite")
    second = ListeningStore(tmp_path / "b.sqlite")
    assert len(first.secret) == 32 and first.secret != second.secret
    assert ListeningStore(tmp_path / "a.sqlite").secret == first.secret


# ------------------------------------------------------------------------------ the server checks every rule


def test_answers_need_every_sample_played(store, service, clips):
    view = service.join(make_abx(store, clips), "Ann")
    assert view.min_play_s == pytest.approx(required_play_s(1.0)) == pytest.approx(min(MIN_PLAY_S, 0.5))
    with pytest.raises(BadInputError, match=r"play every sample .*A, B, X"):
        service.answer(view.token, "A")
    service.played(view.token, "A", view.min_play_s)
    service.played(view.token, "B", view.min_play_s)
    service.played(view.token, "X", view.min_play_s / 2)
    with pytest.raises(BadInputError, match=r"not yet played enough: X"):
        service.answer(view.token, "A")
    played = service.played(view.token, "X", view.min_play_s / 2)
    assert played == pytest.approx({"A": view.min_play_s, "B": view.min_play_s, "X": view.min_play_s})
    following = service.answer(view.token, correct_abx(store, view))
    assert following.number == 2
    (answer,) = store.answers(store.presentation(view.token).test_id)
    assert answer.played == pytest.approx({"A": view.min_play_s, "B": view.min_play_s, "X": view.min_play_s})
    assert answer.elapsed_s >= 0


@pytest.mark.parametrize("slot, seconds, position, message", [
    ("Q", 0.5, 0.0, "no sample 'Q'"),
    ("A", -1.0, 0.0, "duration of at least"),
    ("A", float("nan"), 0.0, "duration of at least"),
    ("A", 1e-300, 0.0, "duration of at least"),
    ("A", 0.5, -3.0, "position"),
    ("A", 60.0, 0.0, "more play time"),
])
def test_bad_play_reports_are_refused(store, service, clips, slot, seconds, position, message):
    view = service.join(make_abx(store, clips), "Ann")
    with pytest.raises(BadInputError, match=message):
        service.played(view.token, slot, seconds, position)
    assert service.played(view.token, "A", 0.1) == {"A": pytest.approx(0.1)}


@pytest.mark.parametrize("protocol, answer, message", [
    ("abx", "C", "not valid in a abx test"),
    ("abx", "none", "not valid"),
    ("abx", "", "not valid"),
    ("mushra", {"1": 90, "2": 80, "3": 70, "4": 20}, "at least one sample 100"),  # the hidden reference is there
    ("mushra", {"1": 100, "2": 80, "3": 70}, "not rated: 4"),
    ("mushra", {"1": 100, "2": 80, "3": 70, "4": None}, "not rated: 4"),  # a slider left unset
    ("mushra", {"1": 100, "2": 80, "3": 70, "4": 101}, "between 0 and 100"),
    ("mushra", {"1": 100, "2": 80, "3": 70, "4": -1}, "between 0 and 100"),
    ("mushra", {"1": 100, "2": 80, "3": 70, "4": True}, "not a number"),
    ("mushra", {"1": 100, "2": 80, "3": 70, "4": "50"}, "not a number"),
    ("mushra", '{"1": 100, "2": 80, "3": 70, "4": NaN}', "not a number"),
    ("mushra", {"1": 100, "2": 80, "3": 70, "4": 5, "R": 100}, "no sample 'R'"),
    ("mushra", [100, 80, 70], "4 ratings expected"),
    ("mushra", "not json", "must be JSON"),
    ("mushra", "42", "map each sample"),
])
def test_bad_answers_are_refused(store, service, clips, protocol, answer, message):
    test_id = (make_abx if protocol == "abx" else make_mushra)(store, clips)
    view = service.join(test_id, "Ann")
    play_all(service, view)
    with pytest.raises(BadInputError, match=message):
        service.answer(view.token, answer)
    assert store.answers(test_id) == []
    service.answer(view.token, "A" if protocol == "abx" else [100, 0, 0, 0])  # the trial stays open
    assert len(store.answers(test_id)) == 1


def test_mushra_answer_by_slot_is_stored_by_stimulus(store, service, clips):
    test_id = make_mushra(store, clips)
    view = service.join(test_id, "Ann")
    assert view.needs_100 and [s.key for s in view.slots] == ["1", "2", "3", "4", "R"]
    assert [s.rated for s in view.slots] == [True] * 4 + [False]
    conditions = shown_conditions(store, view.token)
    play_all(service, view)  # the open reference need not be played
    done = service.answer(view.token, json.dumps({"1": 100, "2": 40, "3": 60, "4": 80}))
    assert done.done and "All 1 trials done" in done.message
    (answer,) = store.answers(test_id)
    stimuli = store.stimuli(test_id)
    stored = {stimuli[s].condition: v for s, v in answer.ratings.items()}
    assert stored == {conditions["1"]: 100, conditions["2"]: 40, conditions["3"]: 60, conditions["4"]: 80}


def test_tokens_are_single_use_and_unknown_tokens_are_refused(store, service, clips):
    test_id = make_abx(store, clips)
    view = service.join(test_id, "Ann")
    again = service.join(test_id, "Ann")  # a reload: the same trial under a second token
    play_all(service, view)
    play_all(service, again)
    assert service.answer(view.token, "A").number == 2
    for token in (view.token, again.token):  # the answered token, and the other one of the same trial
        with pytest.raises(BadInputError, match=r"^this trial is already answered; join the test again") as info:
            service.answer(token, "B")
        assert "\n" not in str(info.value)
    assert len(store.answers(test_id)) == 1 and store.answers(test_id)[0].response == "A"
    with pytest.raises(BadInputError, match="already answered"):
        service.played(view.token, "A", 0.1)
    for token in ("", None, "made-up"):
        with pytest.raises(BadInputError, match="^unknown or expired trial token; join the test again$"):
            service.answer(token, "A")
        with pytest.raises(BadInputError, match="^unknown or expired trial token; join the test again$"):
            service.played(token, "A", 0.1)


def test_a_closed_test_refuses_answers_and_a_reopened_one_takes_them(store, service, clips):
    test_id = make_abx(store, clips)
    view = service.join(test_id, "Ann")
    play_all(service, view)
    store.set_status(test_id, "closed")
    with pytest.raises(BadInputError, match="closed"):
        service.answer(view.token, "A")
    with pytest.raises(BadInputError, match="not open"):
        service.join(test_id, "Bob")
    store.set_status(test_id, "ready")
    assert service.answer(view.token, "A").number == 2


def test_join_by_name_or_id(store, service, clips):
    test_id = make_abx(store, clips)
    assert service.join("ABX", "Ann").token and service.join(test_id, "Ann").token
    make_abx(store, clips)
    with pytest.raises(BadInputError, match="2 tests are named 'abx'"):
        service.join("abx", "Ann")
    with pytest.raises(BadInputError, match="no listening test named 'nope'"):
        service.join("nope", "Ann")


def test_practice_trial_comes_first_and_is_not_counted(store, service, clips):
    test_id = make_abx(store, clips, practice=True)
    view = service.join(test_id, "Ann")
    assert view.practice and view.number == 0 and "Practice" in view.message
    play_all(service, view)
    first = service.answer(view.token, "A")
    assert not first.practice and first.number == 1 and store.answers(test_id) == []
    assert not service.join(test_id, "Ann").practice  # done once, never again


def test_scratch_files_are_removed_as_the_listener_moves_on(store, service, clips):
    test_id = make_abx(store, clips, n_clips=2)
    view = service.join(test_id, "Ann")
    folder = view.slots[0].path.parent
    assert folder.parent == service.scratch_root and all(s.path.exists() for s in view.slots)
    assert folder.stat().st_mode & 0o777 == 0o700 and service.scratch_root.stat().st_mode & 0o777 == 0o700
    play_all(service, view)
    following = service.answer(view.token, "A")
    assert not any(s.path.exists() for s in view.slots) and all(s.path.exists() for s in following.slots)
    play_all(service, following)
    assert service.answer(following.token, "B").done
    assert not folder.exists()
    service.join(make_abx(store, clips), "Bob")
    service.close()
    assert not service.scratch_root.exists()


def test_joining_under_many_names_keeps_a_bounded_number_of_scratch_folders(store, service, clips, monkeypatch):
    from restoration.listening import session

    monkeypatch.setattr(session, "SCRATCH_MAX_LISTENERS", 3)
    test_id = make_abx(store, clips, n_clips=1)
    views = [service.join(test_id, f"listener {k}") for k in range(6)]
    folders = sorted(p.name for p in service.scratch_root.iterdir())
    assert len(folders) == 4  # three kept by the last sweep, plus the folder of the listener who just joined
    assert views[-1].slots[0].path.parent.name in folders and views[0].slots[0].path.parent.name not in folders
    play_all(service, views[0])  # a listener whose files were swept can still answer
    assert service.answer(views[0].token, "A").done


def test_a_full_listener_session_gives_the_right_results(store, service, clips):
    """A listener who always identifies X: every answer correct in the results."""
    from restoration.listening import summarize

    test_id = make_abx(store, clips)
    view = service.join(test_id, "Ann")
    while not view.done:
        play_all(service, view)
        view = service.answer(view.token, correct_abx(store, view))
    (row,) = summarize(store, test_id).tables["ABX (one-sided binomial test against guessing)"]
    assert (row["correct"], row["trials"]) == (3, 3)
    assert store.listener_counts(test_id) == (1, 1)


# ------------------------------------------------------------------------------ play reports are bounded


def stored_bytes(store):
    """The database file and its write-ahead log, as bytes: what a refused report must not change."""
    return [p.read_bytes() for p in (store.path, store.path.with_name(store.path.name + "-wal")) if p.exists()]


def backdate(store, token, seconds):
    """Pretend the trial of ``token`` was shown ``seconds`` earlier."""
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE presentations SET shown_unix = shown_unix - ? WHERE token = ?", (seconds, token))


def test_a_flood_of_play_reports_is_refused_without_writing(store, service, clips, monkeypatch):
    from restoration.listening import storage

    monkeypatch.setattr(storage, "PLAY_REPORTS_PER_S", 0.0)  # the burst alone, however long the loop takes
    test_id = make_abx(store, clips)
    view = service.join(test_id, "Ann")
    for _ in range(storage.PLAY_REPORTS_BURST):
        service.played(view.token, "A", 0.01)
    before = stored_bytes(store)
    for _ in range(300):
        with pytest.raises(BadInputError, match="^too many play reports for this trial"):
            service.played(view.token, "B", 0.01)
    for slot, seconds in (("A", 1e-300), ("Q", 0.5), ("A", 60.0)):
        with pytest.raises(BadInputError):
            service.played(view.token, slot, seconds)
    assert stored_bytes(store) == before
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM plays").fetchone()[0] == storage.PLAY_REPORTS_BURST


def test_play_reports_follow_the_wall_time_and_the_rate(store, service, clips):
    from restoration.listening.storage import PLAY_REPORTS_BURST, PLAY_REPORTS_PER_S, PLAY_SLACK_S

    view = service.join(make_abx(store, clips), "Ann")
    backdate(store, view.token, 10.0)
    # Ten seconds since the trial was shown (plus the slack): that much play time in all, one sample at a time.
    service.played(view.token, "A", 6.0)
    service.played(view.token, "B", 10.0 - 6.0 + PLAY_SLACK_S - 0.5)
    with pytest.raises(BadInputError, match="more play time was reported than has passed"):
        service.played(view.token, "X", 1.0)
    # The rate: the burst plus 4 a second since the trial was shown (10 s before the loop: 70 reports,
    # and 4 more for every second the loop itself takes).
    start, taken = time.monotonic(), 0
    view = service.join(store.presentation(view.token).test_id, "Bob")
    backdate(store, view.token, 10.0)
    with pytest.raises(BadInputError, match="too many play reports"):
        while taken < 1000:
            service.played(view.token, "X", 0.01)
            taken += 1
    allowed = PLAY_REPORTS_BURST + PLAY_REPORTS_PER_S * 10.0
    assert allowed <= taken <= allowed + PLAY_REPORTS_PER_S * (time.monotonic() - start) + 1
    assert store.played(view.token)["X"] == pytest.approx(0.01 * taken)
