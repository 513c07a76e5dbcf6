"""SQLite storage of listening tests: tests, stimuli, trials, listeners and answers.

One file holds everything; the rendered stimuli live in a folder beside it
(``<db stem>-media/<test id>/``), named in the database relative to that folder, so the two move
together. The database runs in WAL mode with ``synchronous=FULL`` and a busy timeout, every call
opens its own connection (safe from any thread or process), and every answer is one
``BEGIN IMMEDIATE`` transaction: several listeners at once lose nothing, and a crash loses at most
the answer being written. ``PRAGMA user_version`` holds the schema version; :data:`MIGRATIONS`
upgrades older files step by step when they are opened.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..errors import BadInputError, RestorationError
from .protocol import RESPONSES, check_protocol, listener_seed, normalize_name

#: Version of the schema this code writes (stored in ``PRAGMA user_version``).
SCHEMA_VERSION = 1
#: How long a writer waits for a lock before failing, seconds.
BUSY_TIMEOUT_S = 30.0
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

_SCHEMA_V1 = f"""
CREATE TABLE tests (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    protocol    TEXT NOT NULL CHECK (protocol IN ('ab', 'abx', 'mushra')),
    status      TEXT NOT NULL DEFAULT 'rendering' CHECK (status IN ('rendering', 'ready', 'closed')),
    settings    TEXT NOT NULL DEFAULT '{{}}',
    created_at  TEXT NOT NULL DEFAULT ({_NOW})
);
CREATE TABLE stimuli (
    id            INTEGER PRIMARY KEY,
    test_id       TEXT NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
    clip          TEXT NOT NULL,
    condition     TEXT NOT NULL,
    path          TEXT NOT NULL,
    sample_rate   INTEGER NOT NULL,
    loudness_lufs REAL,
    gain_db       REAL,
    created_at    TEXT NOT NULL DEFAULT ({_NOW}),
    UNIQUE (test_id, clip, condition)
);
CREATE TABLE trials (
    id          INTEGER PRIMARY KEY,
    test_id     TEXT NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    clip        TEXT NOT NULL,
    stimuli     TEXT NOT NULL,
    reference   INTEGER REFERENCES stimuli(id),
    created_at  TEXT NOT NULL DEFAULT ({_NOW}),
    UNIQUE (test_id, position)
);
CREATE TABLE listeners (
    id          INTEGER PRIMARY KEY,
    test_id     TEXT NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    key         TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    created_at  TEXT NOT NULL DEFAULT ({_NOW}),
    finished_at TEXT,
    UNIQUE (test_id, key)
);
CREATE TABLE answers (
    id          INTEGER PRIMARY KEY,
    listener_id INTEGER NOT NULL REFERENCES listeners(id) ON DELETE CASCADE,
    trial_id    INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    presented   TEXT NOT NULL,
    x_stimulus  INTEGER,
    response    TEXT NOT NULL,
    ratings     TEXT,
    elapsed_s   REAL,
    created_at  TEXT NOT NULL DEFAULT ({_NOW}),
    UNIQUE (listener_id, trial_id)
);
CREATE INDEX answers_by_trial ON answers(trial_id);
CREATE INDEX trials_by_test ON trials(test_id);
"""


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    # executescript() would commit the open transaction: run the statements one by one.
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)


#: ``MIGRATIONS[v]`` upgrades a database from schema version ``v`` to ``v + 1`` inside one transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_0_to_1}


class StorageError(RestorationError):
    """The listening-test database cannot be opened, is corrupt or is newer than this program."""


@dataclass(frozen=True)
class TestInfo:
    id: str
    name: str
    protocol: str
    status: str
    settings: dict
    created_at: str


@dataclass(frozen=True)
class Stimulus:
    id: int
    clip: str
    condition: str
    path: Path
    sample_rate: int
    loudness_lufs: float | None
    gain_db: float | None


@dataclass(frozen=True)
class Trial:
    id: int
    position: int
    clip: str
    stimuli: tuple[int, ...]
    reference: int | None


@dataclass(frozen=True)
class Listener:
    id: int
    test_id: str
    name: str
    seed: int


@dataclass(frozen=True)
class Answer:
    """One stored answer with its listener and trial, as the statistics and the CSV export need it."""

    id: int
    listener: str
    trial_id: int
    position: int
    clip: str
    presented: tuple[int, ...]
    x_stimulus: int | None
    response: str
    ratings: dict[int, float] | None
    elapsed_s: float | None
    created_at: str


def default_db_path() -> Path:
    """``$RESTORATION_DB`` if set, else ``listening.sqlite`` in the per-user data folder."""
    if os.environ.get("RESTORATION_DB"):
        return Path(os.environ["RESTORATION_DB"]).expanduser()
    try:
        import platformdirs

        folder = Path(platformdirs.user_data_dir("restoration", appauthor=False))
    except ImportError:
        folder = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "restoration"
    return folder / "listening.sqlite"


class ListeningStore:
    """All reads and writes of one listening-test database file.

    Every method opens and closes its own connection, so one store may be shared by the threads of
    a web server and by several processes.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise StorageError(f"the database path is a folder: {self.path}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connection() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open the listening database {self.path}: {exc}") from None
        except OSError as exc:
            raise StorageError(f"cannot create the listening database {self.path}: {exc.strerror}") from None

    # ---------------------------------------------------------------- connections and schema

    @property
    def media_root(self) -> Path:
        """Folder beside the database that holds one sub-folder of stimuli per test."""
        return self.path.with_name(f"{self.path.stem}-media")

    def media_dir(self, test_id: str) -> Path:
        return self.media_root / test_id

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE`` (the write lock is taken at once): commit or roll back."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._connection() as conn, closing(conn.execute(sql, args)) as cursor:
            return cursor.fetchall()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(f"{self.path} has schema version {version}, newer than this program's "
                                   f"{SCHEMA_VERSION}; update the restoration package")
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
                conn.execute(f"PRAGMA user_version={version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def schema_version(self) -> int:
        return self._read("PRAGMA user_version")[0][0]

    # ---------------------------------------------------------------- building a test

    def create_test(self, name: str, protocol: str, settings: dict | None = None) -> str:
        """Add a test in state ``rendering`` and create its media folder; returns its id."""
        name = str(name or "").strip()
        if not name:
            raise BadInputError("give the test a name")
        check_protocol(protocol)
        test_id = secrets.token_hex(6)
        with self._transaction() as conn:
            conn.execute("INSERT INTO tests (id, name, protocol, settings) VALUES (?, ?, ?, ?)",
                         (test_id, name, protocol, json.dumps(settings or {})))
        self.media_dir(test_id).mkdir(parents=True, exist_ok=True)
        return test_id

    def add_stimulus(self, test_id: str, clip: str, condition: str, path: str | os.PathLike, sample_rate: int,
                     *, loudness_lufs: float | None = None, gain_db: float | None = None) -> int:
        """Record a rendered file (a path inside the test's media folder, or relative to it)."""
        relative = Path(path)
        if relative.is_absolute():
            relative = relative.relative_to(self.media_root)
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO stimuli (test_id, clip, condition, path, sample_rate, loudness_lufs, gain_db) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (test_id, clip, condition, relative.as_posix(), int(sample_rate), loudness_lufs, gain_db))
            return int(cursor.lastrowid)

    def add_trials(self, test_id: str, trials: Sequence[tuple[str, Sequence[int], int | None]]) -> None:
        """Store the canonical trials ``(clip, stimulus ids, open reference id or None)`` in order."""
        with self._transaction() as conn:
            for position, (clip, stimuli, reference) in enumerate(trials):
                conn.execute("INSERT INTO trials (test_id, position, clip, stimuli, reference) VALUES (?, ?, ?, ?, ?)",
                             (test_id, position, clip, json.dumps([int(s) for s in stimuli]), reference))

    def set_status(self, test_id: str, status: str) -> None:
        """``ready`` opens a test to listeners (it must have trials); ``closed`` ends it."""
        with self._transaction() as conn:
            if status == "ready" and not conn.execute("SELECT 1 FROM trials WHERE test_id = ?", (test_id,)).fetchone():
                raise BadInputError(f"test {test_id} has no trials")
            if conn.execute("UPDATE tests SET status = ? WHERE id = ?", (status, test_id)).rowcount != 1:
                raise BadInputError(f"no listening test with id {test_id!r}")

    def delete_test(self, test_id: str) -> None:
        """Remove a test, everything recorded for it and its media folder."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM tests WHERE id = ?", (test_id,))
        shutil.rmtree(self.media_dir(test_id), ignore_errors=True)

    # ---------------------------------------------------------------- reading a test

    def list_tests(self, *, status: str | None = None) -> list[TestInfo]:
        """Tests, newest first; only those with ``status`` when given."""
        rows = self._read("SELECT id, name, protocol, status, settings, created_at FROM tests "
                          "WHERE ? IS NULL OR status = ? ORDER BY created_at DESC, rowid DESC", (status, status))
        return [TestInfo(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def get_test(self, test_id: str | None) -> TestInfo:
        rows = self._read("SELECT id, name, protocol, status, settings, created_at FROM tests WHERE id = ?",
                          (str(test_id or ""),))
        if not rows:
            raise BadInputError("choose a listening test" if not test_id else f"no listening test with id {test_id!r}")
        r = rows[0]
        return TestInfo(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5])

    def stimuli(self, test_id: str) -> dict[int, Stimulus]:
        rows = self._read("SELECT id, clip, condition, path, sample_rate, loudness_lufs, gain_db FROM stimuli "
                          "WHERE test_id = ? ORDER BY id", (test_id,))
        return {r[0]: Stimulus(r[0], r[1], r[2], self.media_root / r[3], r[4], r[5], r[6]) for r in rows}

    def trials(self, test_id: str) -> list[Trial]:
        rows = self._read("SELECT id, position, clip, stimuli, reference FROM trials WHERE test_id = ? "
                          "ORDER BY position", (test_id,))
        return [Trial(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4]) for r in rows]

    # ---------------------------------------------------------------- listeners and answers

    def join(self, test_id: str, name: str) -> Listener:
        """The listener of this name in this test, created on first visit (names match case-insensitively)."""
        name = normalize_name(name)
        test = self.get_test(test_id)
        if test.status != "ready":
            raise BadInputError(f"the test {test.name!r} is not open for listening ({test.status})")
        key = name.casefold()
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO listeners (test_id, name, key, seed) VALUES (?, ?, ?, ?)",
                         (test_id, name, key, listener_seed(test_id, name)))
            row = conn.execute("SELECT id, name, seed FROM listeners WHERE test_id = ? AND key = ?",
                               (test_id, key)).fetchone()
        return Listener(row[0], test_id, row[1], row[2])

    def answered(self, listener_id: int) -> set[int]:
        """Ids of the trials this listener has answered."""
        return {r[0] for r in self._read("SELECT trial_id FROM answers WHERE listener_id = ?", (listener_id,))}

    def record_answer(self, listener_id: int, trial_id: int, presented: Sequence[int], response: str, *,
                      x_stimulus: int | None = None, ratings: dict[int, float] | None = None,
                      elapsed_s: float | None = None) -> bool:
        """Store one answer in its own transaction; False when this trial was already answered.

        ``presented`` are the stimulus ids in the order shown (A, B, ... ); ``response`` is
        ``A``, ``B`` or ``none`` (A/B), ``A`` or ``B`` (ABX), ``ratings`` (MUSHRA, with
        ``ratings`` mapping every presented stimulus id to a score in [0, 100]).
        """
        presented = [int(s) for s in presented]
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT t.protocol, tr.stimuli FROM listeners l JOIN trials tr ON tr.test_id = l.test_id "
                "JOIN tests t ON t.id = l.test_id WHERE l.id = ? AND tr.id = ?", (listener_id, trial_id)).fetchone()
            if row is None:
                raise BadInputError(f"trial {trial_id} does not belong to the test of listener {listener_id}")
            protocol, stimuli = row[0], json.loads(row[1])
            _check_answer(protocol, stimuli, presented, response, x_stimulus, ratings)
            cursor = conn.execute(
                "INSERT OR IGNORE INTO answers (listener_id, trial_id, presented, x_stimulus, response, ratings, "
                "elapsed_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (listener_id, trial_id, json.dumps(presented), x_stimulus, response,
                 None if ratings is None else json.dumps({str(k): float(v) for k, v in ratings.items()}),
                 None if elapsed_s is None else float(elapsed_s)))
            conn.execute(
                f"UPDATE listeners SET finished_at = {_NOW} WHERE id = ? AND finished_at IS NULL AND "
                "(SELECT COUNT(*) FROM answers WHERE listener_id = ?) = "
                "(SELECT COUNT(*) FROM trials WHERE test_id = listeners.test_id)", (listener_id, listener_id))
            return cursor.rowcount == 1

    def answers(self, test_id: str) -> list[Answer]:
        """Every answer of a test in the order given."""
        rows = self._read(
            "SELECT a.id, l.name, a.trial_id, tr.position, tr.clip, a.presented, a.x_stimulus, a.response, "
            "a.ratings, a.elapsed_s, a.created_at FROM answers a JOIN listeners l ON l.id = a.listener_id "
            "JOIN trials tr ON tr.id = a.trial_id WHERE l.test_id = ? ORDER BY a.id", (test_id,))
        return [Answer(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), r[6], r[7],
                       None if r[8] is None else {int(k): v for k, v in json.loads(r[8]).items()}, r[9], r[10])
                for r in rows]

    def listener_counts(self, test_id: str) -> tuple[int, int]:
        """``(listeners who started, listeners who finished)``."""
        row = self._read("SELECT COUNT(*), COUNT(finished_at) FROM listeners WHERE test_id = ?", (test_id,))[0]
        return int(row[0]), int(row[1])


def _check_answer(protocol: str, stimuli: list[int], presented: list[int], response: str,
                  x_stimulus: int | None, ratings: dict[int, float] | None) -> None:
    if sorted(presented) != sorted(stimuli):
        raise BadInputError("the answer does not show the trial's stimuli")
    if response not in RESPONSES[protocol]:
        raise BadInputError(f"answer {response!r} is not valid in a {protocol} test")
    if protocol == "abx" and x_stimulus not in presented:
        raise BadInputError("an ABX answer must name the stimulus played as X")
    if protocol != "abx" and x_stimulus is not None:
        raise BadInputError(f"a {protocol} answer has no X")
    if protocol != "mushra" and ratings is not None:
        raise BadInputError(f"a {protocol} answer has no ratings")
    if protocol == "mushra":
        if ratings is None or sorted(int(k) for k in ratings) != sorted(presented):
            raise BadInputError("rate every sample of the trial")
        if not all(0.0 <= float(v) <= 100.0 for v in ratings.values()):
            raise BadInputError("ratings must lie between 0 and 100")
