"""SQLite storage of listening tests: schema, answers, concurrent writers and a killed writer."""

import multiprocessing
import os
import signal
import sqlite3
import threading
from contextlib import closing

import pytest

from restoration import BadInputError
from restoration.listening import ListeningStore, StorageError, default_db_path, listener_plan
from restoration.listening.protocol import design_trials
from restoration.listening.storage import SCHEMA_VERSION

FORK = multiprocessing.get_context("fork")


def make_test(store, protocol="ab", conditions=("m1", "m2", "m3"), clips=("c1",), name="t", reference=None):
    """A ready test whose stimuli are rows only (no audio is read by storage or statistics)."""
    test_id = store.create_test(name, protocol, {"methods": [c for c in conditions if c != reference]})
    ids = {}
    for clip in clips:
        for condition in conditions:
            ids[clip, condition] = store.add_stimulus(test_id, clip, condition, f"{test_id}/{clip}-{condition}.flac",
                                                      48000, loudness_lufs=-23.0, gain_db=0.0)
    specs = design_trials(protocol, [(clip, conditions) for clip in clips])
    store.add_trials(test_id, [(s.clip, [ids[s.clip, c] for c in s.conditions],
                                ids[s.clip, reference] if reference else None) for s in specs])
    store.set_status(test_id, "ready")
    return test_id


def answer_all(store, test_id, name, choose):
    """Let listener ``name`` answer every trial in plan order; ``choose(presented, x) -> (response, ratings)``."""
    test = store.get_test(test_id)
    listener = store.join(test_id, name)
    trials = {t.id: t for t in store.trials(test_id)}
    for shown in listener_plan(test.protocol, [(t.id, len(t.stimuli)) for t in trials.values()], listener.seed):
        presented = [trials[shown.trial].stimuli[i] for i in shown.order]
        x = None if shown.x is None else presented[shown.x]
        response, ratings = choose(presented, x)
        assert store.record_answer(listener.id, shown.trial, presented, response, x_stimulus=x, ratings=ratings)
    return listener


@pytest.fixture
def store(tmp_path):
    return ListeningStore(tmp_path / "db.sqlite")


def test_new_database_has_schema_version_wal_and_tables(store):
    assert store.schema_version() == SCHEMA_VERSION == 2
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"tests", "stimuli", "trials", "listeners", "answers", "meta", "presentations", "plays"} <= tables


def test_migration_hook_and_refusals(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # an empty file of version 0 is upgraded step by step
        conn.execute("CREATE TABLE unrelated (x)")
    assert ListeningStore(path).schema_version() == SCHEMA_VERSION
    from restoration.listening import storage

    steps = []
    monkeypatch.setattr(storage, "SCHEMA_VERSION", 3)
    monkeypatch.setitem(storage.MIGRATIONS, 2, lambda conn: (steps.append(2), conn.execute(
        "ALTER TABLE answers ADD COLUMN device TEXT")))
    upgraded = ListeningStore(path)
    assert steps == [2] and upgraded.schema_version() == 3
    monkeypatch.setattr(storage, "SCHEMA_VERSION", 2)
    with pytest.raises(StorageError, match="newer than this program"):
        ListeningStore(path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot open"):
        ListeningStore(junk)
    with pytest.raises(StorageError, match="folder"):
        ListeningStore(tmp_path)


def test_default_db_path(monkeypatch, tmp_path):
    monkeypatch.setenv("RESTORATION_DB", str(tmp_path / "x.sqlite"))
    assert default_db_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("RESTORATION_DB")
    path = default_db_path()
    assert path.name == "listening.sqlite" and path.parent.name == "restoration" and path.is_absolute()


def test_listeners_resume_and_answers_are_stored_once(store):
    test_id = make_test(store)
    ann = store.join(test_id, "Ann")
    assert store.join(test_id, "  ann ") == ann
    assert store.join(test_id, "Bob").id != ann.id
    trial = store.trials(test_id)[0]
    shown = list(reversed(trial.stimuli))
    assert store.record_answer(ann.id, trial.id, shown, "B", elapsed_s=3.5)
    assert not store.record_answer(ann.id, trial.id, shown, "A")  # a second click changes nothing
    (stored,) = store.answers(test_id)
    assert (stored.listener, stored.presented, stored.response, stored.elapsed_s) == ("Ann", tuple(shown), "B", 3.5)
    assert store.answered(ann.id) == {trial.id}
    assert store.listener_counts(test_id) == (2, 0)


@pytest.mark.parametrize("protocol, response, kwargs, message", [
    ("ab", "X", {}, "not valid"),
    ("abx", "A", {}, "name the stimulus played as X"),
    ("mushra", "ratings", {"ratings": None}, "rate every sample"),
    ("mushra", "ratings", {"ratings": "over"}, "between 0 and 100"),
    ("ab", "A", {"x_stimulus": 1}, "has no X"),
    ("abx", "A", {"x_stimulus": "first", "ratings": {}}, "has no ratings"),
])
def test_bad_answers_are_refused(store, protocol, response, kwargs, message):
    test_id = make_test(store, protocol)
    listener = store.join(test_id, "Ann")
    trial = store.trials(test_id)[0]
    if kwargs.get("ratings") == "over":
        kwargs = {"ratings": {s: 101.0 for s in trial.stimuli}}
    if kwargs.get("x_stimulus") == "first":
        kwargs["x_stimulus"] = trial.stimuli[0]
    with pytest.raises(BadInputError, match=message):
        store.record_answer(listener.id, trial.id, trial.stimuli, response, **kwargs)
    with pytest.raises(BadInputError, match="does not show the trial's stimuli"):
        store.record_answer(listener.id, trial.id, trial.stimuli[:1], response, **kwargs)
    assert store.answers(test_id) == []


def test_join_refuses_unknown_or_closed_tests(store):
    test_id = make_test(store)
    with pytest.raises(BadInputError, match="no listening test"):
        store.join("nope", "Ann")
    store.set_status(test_id, "closed")
    with pytest.raises(BadInputError, match="not open"):
        store.join(test_id, "Ann")


def test_finished_listener_and_reopen_keeps_everything(store):
    test_id = make_test(store, "mushra", conditions=("m1", "m2", "ref"), clips=("c1", "c2"), reference="ref")
    answer_all(store, test_id, "Ann", lambda shown, x: ("ratings", {s: 100.0 - 10 * k for k, s in enumerate(shown)}))
    reopened = ListeningStore(store.path)
    assert reopened.listener_counts(test_id) == (1, 1)
    answers = reopened.answers(test_id)
    assert len(answers) == 2 and all(sorted(a.ratings.values()) == [80.0, 90.0, 100.0] for a in answers)
    assert reopened.get_test(test_id).settings == {"methods": ["m1", "m2"]}
    assert [t.reference is not None for t in reopened.trials(test_id)] == [True, True]
    store.delete_test(test_id)
    assert reopened.list_tests() == [] and reopened.answers(test_id) == []


# ------------------------------------------------------------------------------ concurrency


def _write_answers(path, test_id, name, barrier=None, report=None):
    """One writer: joins as ``name`` and answers every trial, each in its own transaction."""
    store = ListeningStore(path)
    if barrier is not None:
        barrier.wait()
    listener = store.join(test_id, name)
    for trial in store.trials(test_id):
        store.record_answer(listener.id, trial.id, trial.stimuli, "A")
        if report is not None:
            os.write(report, trial.id.to_bytes(4, "little"))


def _count_answers(path, test_id):
    return len(ListeningStore(path).answers(test_id))


def test_concurrent_threads_lose_nothing(store):
    test_id = make_test(store, conditions=tuple(f"m{k}" for k in range(10)))  # 45 trials
    barrier = threading.Barrier(6)
    errors = []

    def run(k):
        try:
            _write_answers(store.path, test_id, f"thread {k}", barrier)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _count_answers(store.path, test_id) == 6 * 45
    assert store.listener_counts(test_id) == (6, 6)


def test_concurrent_processes_lose_nothing(store):
    test_id = make_test(store, conditions=tuple(f"m{k}" for k in range(11)))  # 55 trials: 50+ answers each
    barrier = FORK.Barrier(4)
    workers = [FORK.Process(target=_write_answers, args=(store.path, test_id, f"proc {k}", barrier))
               for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    answers = store.answers(test_id)
    assert len(answers) == 4 * 55
    assert len({(a.listener, a.trial_id) for a in answers}) == 4 * 55


def test_killed_writer_leaves_every_committed_answer(store):
    test_id = make_test(store, conditions=tuple(f"m{k}" for k in range(25)))  # 300 trials
    read_fd, write_fd = os.pipe()
    writer = FORK.Process(target=_write_answers, args=(store.path, test_id, "doomed", None, write_fd))
    writer.start()
    os.close(write_fd)
    committed = []
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while len(committed) < 40:
            chunk = pipe.read(4)
            assert chunk, "the writer stopped before it was killed"
            committed.append(int.from_bytes(chunk, "little"))
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
        while chunk := pipe.read(4):  # answers reported between the last read and the kill
            committed.append(int.from_bytes(chunk, "little"))
    assert writer.exitcode == -signal.SIGKILL
    reopened = ListeningStore(store.path)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {a.trial_id for a in reopened.answers(test_id)}
    assert set(committed) <= stored
    assert len(stored) < 300  # it really was killed in the middle
    # The database is not left locked: another listener can write at once.
    _write_answers(store.path, test_id, "next")
    assert _count_answers(store.path, test_id) == len(stored) + 300


# ------------------------------------------------------------------------------ errors after opening, persistence


def test_a_corrupt_page_reaches_callers_as_storage_error(store):
    test_id = make_test(store, conditions=tuple(f"m{k}" for k in range(12)))  # 66 trials: several pages
    answer_all(store, test_id, "Ann", lambda shown, x: ("A", None))
    with sqlite3.connect(store.path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 4
    with open(store.path, "r+b") as handle:  # scribble over every page but the header page
        handle.seek(page_size)
        handle.write(os.urandom(page_size * (pages - 1)))
    for call in (lambda: store.answers(test_id), lambda: store.trials(test_id),
                 lambda: store.record_answer(1, 1, [1, 2], "A")):
        with pytest.raises(StorageError, match="db.sqlite cannot be used .*malformed|not a database") as info:
            call()
        assert str(store.path.parent) not in str(info.value)  # the file's name, not the server's folders


def test_a_read_only_database_reaches_callers_as_storage_error(store, monkeypatch):
    test_id = make_test(store)
    listener = store.join(test_id, "Ann")
    trial = store.trials(test_id)[0]
    from restoration.listening import storage

    real_connect = sqlite3.connect
    # What SQLite does when the file (or its folder) is read-only for this process (root ignores chmod).
    monkeypatch.setattr(storage.sqlite3, "connect", lambda path, **kw: real_connect(
        f"file:{path}?mode=ro", uri=True, **kw))
    assert store.trials(test_id)  # reading still works
    with pytest.raises(StorageError, match="readonly"):
        store.record_answer(listener.id, trial.id, trial.stimuli, "A")
    with pytest.raises(StorageError, match="readonly"):
        store.join(test_id, "Bob")
    monkeypatch.undo()
    assert store.answers(test_id) == [] and store.listener_counts(test_id) == (1, 0)


def test_spaces_default_to_persistent_storage(monkeypatch, tmp_path):
    from restoration.listening import persistence_warning

    monkeypatch.delenv("RESTORATION_DB", raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert default_db_path(spaces_data=data) != data / "restoration" / "listening.sqlite"  # no /data: not persistent
    data.mkdir()
    assert default_db_path(spaces_data=data) == data / "restoration" / "listening.sqlite"
    assert persistence_warning(data / "restoration" / "listening.sqlite", spaces_data=data) is None
    assert "lost when the Space restarts" in persistence_warning(tmp_path / "elsewhere.sqlite", spaces_data=data)
    monkeypatch.delenv("SPACE_ID")
    assert default_db_path(spaces_data=data).parent.name == "restoration"
    assert default_db_path(spaces_data=data) != data / "restoration" / "listening.sqlite"
    assert "temporary folder" in persistence_warning(tmp_path / "x.sqlite")
    assert persistence_warning(default_db_path()) is None


def test_version_1_files_are_upgraded_with_a_secret_and_keep_their_answers(tmp_path, monkeypatch):
    from restoration.listening import storage
    from restoration.listening.protocol import listener_seed

    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as conn:  # a version-1 file as the previous release wrote it
        storage._migrate_0_to_1(conn)
        conn.execute("PRAGMA user_version=1")
        conn.execute("INSERT INTO tests (id, name, protocol, status) VALUES ('t1', 'old', 'ab', 'ready')")
        conn.execute("INSERT INTO stimuli (id, test_id, clip, condition, path, sample_rate) VALUES "
                     "(1, 't1', 'c', 'm1', 't1/a.flac', 48000), (2, 't1', 'c', 'm2', 't1/b.flac', 48000)")
        conn.execute("INSERT INTO trials (id, test_id, position, clip, stimuli) VALUES (1, 't1', 0, 'c', '[1, 2]')")
        conn.execute("INSERT INTO listeners (id, test_id, name, key, seed) VALUES (1, 't1', 'Ann', 'ann', 12345)")
        conn.execute("INSERT INTO answers (listener_id, trial_id, presented, response) VALUES (1, 1, '[2, 1]', 'B')")
    store = ListeningStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    (answer,) = store.answers("t1")
    assert (answer.listener, answer.presented, answer.response, answer.played) == ("Ann", (2, 1), "B", None)
    ann = store.join("t1", "Ann")
    assert ann.seed == listener_seed(store.secret, "t1", "Ann") != 12345


def test_database_and_media_are_owner_only(tmp_path):
    """The database holds the secret that seeds every plan: 0600 for it and its -wal and -shm files,
    0700 for the media folders, whatever the umask; a world-readable file of an earlier version is
    tightened when it is opened."""
    old_umask = os.umask(0o022)
    try:
        store = ListeningStore(tmp_path / "db.sqlite")
        test_id = make_test(store)
        with closing(sqlite3.connect(store.path)) as held:  # keeps the -wal and -shm files (the last close removes them)
            held.execute("SELECT COUNT(*) FROM tests").fetchone()
            store.join(test_id, "Ann")
            for suffix in ("", "-wal", "-shm"):
                path = tmp_path / f"db.sqlite{suffix}"
                assert path.exists() and oct(path.stat().st_mode & 0o777) == oct(0o600), suffix
        for folder in (store.media_root, store.media_dir(test_id)):
            assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
        for path in (store.path, store.media_root):
            path.chmod(0o755 if path.is_dir() else 0o644)
        ListeningStore(tmp_path / "db.sqlite")
        assert store.path.stat().st_mode & 0o777 == 0o600 and store.media_root.stat().st_mode & 0o777 == 0o700
    finally:
        os.umask(old_umask)
