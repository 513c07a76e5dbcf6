"""SQLite storage of listening tests: tests, stimuli, trials, listeners and answers.

One file holds everything; the rendered stimuli live in a folder beside it
(``<db stem>-media/<test id>/``), named in the database relative to that folder, so the two move
together. The database runs in WAL mode with ``synchronous=FULL`` and a busy timeout, every call
opens its own connection (safe from any thread or process), and every answer is one
``BEGIN IMMEDIATE`` transaction: several listeners at once lose nothing, and a crash loses at most
the answer being written. ``PRAGMA user_version`` holds the schema version; :data:`MIGRATIONS`
upgrades older files step by step when they are opened.

Schema 2 adds what keeps a test blind: a random secret (table ``meta``, created once, never sent
to a client) that seeds every listener's plan; ``presentations``, one row per trial shown to a
listener with an opaque random token and the stimulus behind each slot; and ``plays``, what the
listener's player reports it played and for how long. After the file is open, every SQLite error
reaches callers as :class:`StorageError`. The file is created mode 0600 (SQLite gives its -wal and
-shm files the same mode) and the media folders 0700; looser ones of earlier releases are tightened
on opening.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..errors import BadInputError, RestorationError
from .protocol import RESPONSES, check_protocol, listener_seed, normalize_name

#: Slot keys of the trial's unknown (ABX) and of the shown reference (MUSHRA); every other key is a
#: stimulus the listener answers about.
X_SLOT, REFERENCE_SLOT = "X", "R"
_PLAYED = "SELECT slot, SUM(seconds) FROM plays WHERE token = ? GROUP BY slot"
#: The one-line refusals of a token that is unknown, or whose trial is answered.
UNKNOWN_TOKEN = "unknown or expired trial token; join the test again"
ANSWERED = "this trial is already answered; join the test again (Start / continue) for the next one"
#: Permissions of what the store creates: the database (and its -wal and -shm files) and the media folders.
FILE_MODE, FOLDER_MODE = 0o600, 0o700

#: Version of the schema this code writes (stored in ``PRAGMA user_version``).
SCHEMA_VERSION = 2
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


_SCHEMA_V2 = f"""
CREATE TABLE meta (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);
CREATE TABLE presentations (
    token        TEXT PRIMARY KEY,
    listener_id  INTEGER NOT NULL REFERENCES listeners(id) ON DELETE CASCADE,
    trial_id     INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    practice     INTEGER NOT NULL DEFAULT 0,
    slots        TEXT NOT NULL,
    shown_unix   REAL NOT NULL,
    created_at   TEXT NOT NULL DEFAULT ({_NOW}),
    answered_at  TEXT,
    response     TEXT
);
CREATE INDEX presentations_by_listener ON presentations(listener_id);
CREATE TABLE plays (
    id          INTEGER PRIMARY KEY,
    token       TEXT NOT NULL REFERENCES presentations(token) ON DELETE CASCADE,
    slot        TEXT NOT NULL,
    position_s  REAL NOT NULL,
    seconds     REAL NOT NULL,
    created_at  TEXT NOT NULL DEFAULT ({_NOW})
);
CREATE INDEX plays_by_token ON plays(token);
ALTER TABLE answers ADD COLUMN played TEXT;
"""


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Add the secret, presentations and plays; re-seed existing listeners from the secret (their
    answered trials keep what they were shown, the rest is drawn anew, unpredictably)."""
    for statement in _SCHEMA_V2.split(";"):
        if statement.strip():
            conn.execute(statement)
    secret = secrets.token_hex(32)
    conn.execute("INSERT INTO meta (key, value) VALUES ('secret', ?)", (secret,))
    for listener_id, test_id, name in conn.execute("SELECT id, test_id, name FROM listeners").fetchall():
        conn.execute("UPDATE listeners SET seed = ? WHERE id = ?",
                     (listener_seed(bytes.fromhex(secret), test_id, name), listener_id))


#: ``MIGRATIONS[v]`` upgrades a database from schema version ``v`` to ``v + 1`` inside one transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_0_to_1, 1: _migrate_1_to_2}
#: Slack allowed between the play time a player reports and the wall-clock time since the trial
#: was shown, seconds (network delay, the decoder's start-up).
PLAY_SLACK_S = 2.0
#: Play reports one presentation takes: this many at once, plus this many per second since it was
#: shown (the player reports on every switch of sample; a fast switcher makes 2-3 a second).
PLAY_REPORTS_BURST = 30
PLAY_REPORTS_PER_S = 4.0
#: Shortest play report taken, seconds (the player reports only segments longer than this).
MIN_PLAY_REPORT_S = 0.01


class StorageError(RestorationError):
    """The listening-test database cannot be opened or used: corrupt, read-only, locked, full, or newer
    than this program."""


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
    #: Seconds each slot was played before the answer (``{"A": 4.2, "B": 3.0, ...}``), when known.
    played: dict[str, float] | None = None


@dataclass(frozen=True)
class Shown:
    """One presentation of a trial to a listener, as the server keeps it (never sent to clients).

    ``slots`` maps each slot key the listener sees (``A``, ``B``, ``X``; ``1``..``12`` in MUSHRA;
    ``R`` for the open reference) to a stimulus id.
    """

    token: str
    listener_id: int
    listener: str
    test_id: str
    protocol: str
    trial_id: int
    practice: bool
    slots: dict[str, int]
    shown_unix: float
    answered: bool


#: Folder of the persistent storage of a Hugging Face Space (when the Space has it).
SPACES_DATA = Path("/data")


def default_db_path(*, spaces_data: Path = SPACES_DATA) -> Path:
    """``$RESTORATION_DB`` if set; on a Hugging Face Space (``$SPACE_ID`` set) with writable
    persistent storage, ``/data/restoration/listening.sqlite``; else ``listening.sqlite`` in the
    per-user data folder."""
    if os.environ.get("RESTORATION_DB"):
        return Path(os.environ["RESTORATION_DB"]).expanduser()
    if os.environ.get("SPACE_ID") and spaces_data.is_dir() and os.access(spaces_data, os.W_OK):
        return spaces_data / "restoration" / "listening.sqlite"
    try:
        import platformdirs

        folder = Path(platformdirs.user_data_dir("restoration", appauthor=False))
    except ImportError:
        folder = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "restoration"
    return folder / "listening.sqlite"


def persistence_warning(path: str | os.PathLike, *, spaces_data: Path = SPACES_DATA) -> str | None:
    """Why answers stored at ``path`` may vanish, or None: on a Hugging Face Space only
    ``/data`` survives a restart; a temporary folder is emptied by the system."""
    path = Path(path).expanduser().resolve()
    if os.environ.get("SPACE_ID"):
        if path.is_relative_to(Path(spaces_data).resolve()):
            return None
        return ("this Hugging Face Space keeps files only in /data (persistent storage); the listening "
                "database is elsewhere and is lost when the Space restarts")
    if path.is_relative_to(Path(tempfile.gettempdir()).resolve()):
        return "the listening database is in a temporary folder and may be deleted by the system"
    return None


class ListeningStore:
    """All reads and writes of one listening-test database file.

    Every method opens and closes its own connection, so one store may be shared by the threads of
    a web server and by several processes. Once the file is open, SQLite errors (a corrupt page, a
    read-only file, a full disk, a lock held too long) are raised as :class:`StorageError`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser()
        self._secret: bytes | None = None
        if self.path.is_dir():
            raise StorageError(f"the database path is a folder: {self.path}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(self.path)
            with self._connection() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                self._migrate(conn)
        except StorageError as exc:
            if "newer than this program" in str(exc):
                raise
            raise StorageError(f"cannot open the listening database {self.path}: {exc.__cause__ or exc}") from None
        except OSError as exc:
            raise StorageError(f"cannot create the listening database {self.path}: {exc.strerror}") from None
        for path in (self.path, self.path.with_name(self.path.name + "-wal"),
                     self.path.with_name(self.path.name + "-shm")):
            _restrict(path, FILE_MODE)
        _restrict(self.media_root, FOLDER_MODE)

    # ---------------------------------------------------------------- connections and schema

    @property
    def media_root(self) -> Path:
        """Folder beside the database that holds one sub-folder of stimuli per test."""
        return self.path.with_name(f"{self.path.stem}-media")

    def media_dir(self, test_id: str) -> Path:
        return self.media_root / test_id

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection with the store's pragmas; any ``sqlite3.Error`` inside becomes a StorageError."""
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        except sqlite3.Error as exc:
            raise StorageError(f"the listening database {self.path.name} cannot be used ({exc}); "
                               "nothing was changed") from exc
        finally:
            if conn is not None:
                conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE`` (the write lock is taken at once): commit or roll back."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
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

    @property
    def secret(self) -> bytes:
        """The database's random secret (32 bytes, made once by the migration): seeds listener plans."""
        if self._secret is None:
            rows = self._read("SELECT value FROM meta WHERE key = 'secret'")
            if not rows:
                raise StorageError(f"the listening database {self.path.name} has no secret; it was edited by hand")
            self._secret = bytes.fromhex(rows[0][0])
        return self._secret

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
        self.media_root.mkdir(mode=FOLDER_MODE, exist_ok=True)
        self.media_dir(test_id).mkdir(mode=FOLDER_MODE, exist_ok=True)
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
        """``ready`` opens (or reopens) a test to listeners (it must have trials); ``closed`` ends it."""
        if status not in ("rendering", "ready", "closed"):
            raise BadInputError(f"unknown test status {status!r}")
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

    def find_test(self, name_or_id: str | None) -> TestInfo:
        """The test with this id, or the one test with this name (case-insensitive; open tests first)."""
        text = str(name_or_id or "").strip()
        if not text:
            raise BadInputError("choose a listening test")
        by_id = self._read("SELECT id FROM tests WHERE id = ?", (text,))
        if by_id:
            return self.get_test(by_id[0][0])
        named = [t for t in self.list_tests() if t.name.casefold() == text.casefold()]
        open_ = [t for t in named if t.status == "ready"]
        candidates = open_ or named
        if not candidates:
            raise BadInputError(f"no listening test named {text!r}")
        if len(candidates) > 1:
            raise BadInputError(f"{len(candidates)} tests are named {text!r}; give the test's id instead")
        return candidates[0]

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
                         (test_id, name, key, listener_seed(self.secret, test_id, name)))
            row = conn.execute("SELECT id, name, seed FROM listeners WHERE test_id = ? AND key = ?",
                               (test_id, key)).fetchone()
        return Listener(row[0], test_id, row[1], row[2])

    def answered(self, listener_id: int) -> set[int]:
        """Ids of the trials this listener has answered."""
        return {r[0] for r in self._read("SELECT trial_id FROM answers WHERE listener_id = ?", (listener_id,))}

    def record_answer(self, listener_id: int, trial_id: int, presented: Sequence[int], response: str, *,
                      x_stimulus: int | None = None, ratings: dict[int, float] | None = None,
                      elapsed_s: float | None = None, played: dict[str, float] | None = None) -> bool:
        """Store one answer in its own transaction; False when this trial was already answered.

        ``presented`` are the stimulus ids in the order shown (A, B, ... ); ``response`` is
        ``A``, ``B`` or ``none`` (A/B), ``A`` or ``B`` (ABX), ``ratings`` (MUSHRA, with
        ``ratings`` mapping every presented stimulus id to a score in [0, 100], one of them 100
        when the hidden reference is among them). ``played`` is the seconds played per slot.
        """
        with self._transaction() as conn:
            return self._insert_answer(conn, listener_id, trial_id, [int(s) for s in presented], response,
                                       x_stimulus, ratings, elapsed_s, played)

    def _insert_answer(self, conn: sqlite3.Connection, listener_id: int, trial_id: int, presented: list[int],
                       response: str, x_stimulus: int | None, ratings: dict[int, float] | None,
                       elapsed_s: float | None, played: dict[str, float] | None) -> bool:
        row = conn.execute(
            "SELECT t.protocol, tr.stimuli, tr.reference FROM listeners l JOIN trials tr ON tr.test_id = l.test_id "
            "JOIN tests t ON t.id = l.test_id WHERE l.id = ? AND tr.id = ?", (listener_id, trial_id)).fetchone()
        if row is None:
            raise BadInputError(f"trial {trial_id} does not belong to the test of listener {listener_id}")
        protocol, stimuli, reference = row[0], json.loads(row[1]), row[2]
        check_answer(protocol, stimuli, presented, response, x_stimulus, ratings, hidden_reference=reference)
        cursor = conn.execute(
            "INSERT OR IGNORE INTO answers (listener_id, trial_id, presented, x_stimulus, response, ratings, "
            "elapsed_s, played) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (listener_id, trial_id, json.dumps(presented), x_stimulus, response,
             None if ratings is None else json.dumps({str(k): float(v) for k, v in ratings.items()}),
             None if elapsed_s is None else float(elapsed_s),
             None if played is None else json.dumps({str(k): round(float(v), 3) for k, v in played.items()})))
        conn.execute(
            f"UPDATE listeners SET finished_at = {_NOW} WHERE id = ? AND finished_at IS NULL AND "
            "(SELECT COUNT(*) FROM answers WHERE listener_id = ?) = "
            "(SELECT COUNT(*) FROM trials WHERE test_id = listeners.test_id)", (listener_id, listener_id))
        return cursor.rowcount == 1

    def answers(self, test_id: str) -> list[Answer]:
        """Every answer of a test in the order given."""
        rows = self._read(
            "SELECT a.id, l.name, a.trial_id, tr.position, tr.clip, a.presented, a.x_stimulus, a.response, "
            "a.ratings, a.elapsed_s, a.created_at, a.played FROM answers a JOIN listeners l ON l.id = a.listener_id "
            "JOIN trials tr ON tr.id = a.trial_id WHERE l.test_id = ? ORDER BY a.id", (test_id,))
        return [Answer(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), r[6], r[7],
                       None if r[8] is None else {int(k): v for k, v in json.loads(r[8]).items()}, r[9], r[10],
                       None if r[11] is None else json.loads(r[11]))
                for r in rows]

    def listener_counts(self, test_id: str) -> tuple[int, int]:
        """``(listeners who started, listeners who finished)``."""
        row = self._read("SELECT COUNT(*), COUNT(finished_at) FROM listeners WHERE test_id = ?", (test_id,))[0]
        return int(row[0]), int(row[1])

    # ---------------------------------------------------------------- presentations and plays

    def add_presentation(self, listener_id: int, trial_id: int, slots: dict[str, int], *,
                         practice: bool = False) -> str:
        """Record that a trial is shown with ``slots`` (slot key -> stimulus id); returns its opaque token."""
        token = secrets.token_urlsafe(24)
        with self._transaction() as conn:
            conn.execute("INSERT INTO presentations (token, listener_id, trial_id, practice, slots, shown_unix) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (token, listener_id, trial_id, int(practice), json.dumps(slots), time.time()))
        return token

    def presentation(self, token: str | None) -> Shown:
        """The presentation behind a token; an unknown token raises BadInputError."""
        rows = self._read(
            "SELECT p.token, p.listener_id, l.name, l.test_id, t.protocol, p.trial_id, p.practice, p.slots, "
            "p.shown_unix, p.answered_at IS NOT NULL FROM presentations p JOIN listeners l ON l.id = p.listener_id "
            "JOIN tests t ON t.id = l.test_id WHERE p.token = ?", (str(token or ""),))
        if not rows:
            raise BadInputError(UNKNOWN_TOKEN)
        r = rows[0]
        return Shown(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), json.loads(r[7]), r[8], bool(r[9]))

    def practiced(self, listener_id: int) -> bool:
        """True when the listener has answered a practice trial."""
        return bool(self._read("SELECT 1 FROM presentations WHERE listener_id = ? AND practice = 1 AND "
                               "answered_at IS NOT NULL", (listener_id,)))

    def add_play(self, token: str, slot: str, position_s: float, seconds: float) -> None:
        """Record that ``slot`` of a presentation played for ``seconds`` from ``position_s``.

        Refused without writing anything: an answered or unknown presentation, an unknown slot, a
        time that is not finite, a position below 0, a duration under :data:`MIN_PLAY_REPORT_S`;
        more play time in all than has passed since the trial was shown (plus :data:`PLAY_SLACK_S`;
        one sample sounds at a time, so every slot is bounded by that wall time), and more reports
        than :data:`PLAY_REPORTS_BURST` plus :data:`PLAY_REPORTS_PER_S` per second since then.
        The checks run on a read first, so a flood of refused reports never takes the write lock.
        """
        seconds, position_s = float(seconds), float(position_s)
        if not (math.isfinite(seconds) and math.isfinite(position_s)) or seconds < MIN_PLAY_REPORT_S \
                or position_s < 0:
            raise BadInputError(f"a play report needs a duration of at least {MIN_PLAY_REPORT_S} s and a position >= 0")
        token = str(token or "")
        with self._connection() as conn:
            _check_play(conn, token, slot, seconds)
        with self._transaction() as conn:
            _check_play(conn, token, slot, seconds)  # again under the lock: reports may race
            conn.execute("INSERT INTO plays (token, slot, position_s, seconds) VALUES (?, ?, ?, ?)",
                         (token, slot, position_s, seconds))

    def played(self, token: str) -> dict[str, float]:
        """Seconds played per slot key of a presentation (slots never played are absent)."""
        return {r[0]: float(r[1]) for r in self._read(_PLAYED, (token,))}

    def answer_presentation(self, token: str, response: str, *, ratings: dict[str, float] | None = None,
                            required_play_s: dict[str, float] | None = None) -> bool:
        """Store the answer to a presentation in one transaction; True when stored.

        ``ratings`` maps slot keys to scores (MUSHRA). ``required_play_s`` gives, per slot key, the
        seconds it must have been played; a shorter slot refuses the answer. An unknown or answered
        token is refused (BadInputError, one line). A practice presentation keeps its answer on
        itself and adds nothing to the results.
        """
        with self._transaction() as conn:
            row = conn.execute("SELECT listener_id, trial_id, practice, slots, shown_unix, answered_at "
                               "FROM presentations WHERE token = ?", (str(token or ""),)).fetchone()
            if row is None:
                raise BadInputError(UNKNOWN_TOKEN)
            listener_id, trial_id, practice, slots, shown_unix, answered_at = row
            if answered_at is not None:
                raise BadInputError(ANSWERED)
            slots = json.loads(slots)
            played = {r[0]: float(r[1]) for r in conn.execute(_PLAYED, (token,))}
            missing = [k for k, need in (required_play_s or {}).items() if played.get(k, 0.0) + 1e-6 < need]
            if missing:
                raise BadInputError(f"play every sample before answering (not yet played enough: {', '.join(missing)})")
            answer_keys = [k for k in slots if k not in (X_SLOT, REFERENCE_SLOT)]
            if ratings is not None and set(ratings) != set(answer_keys):
                raise BadInputError("rate every sample of the trial")
            presented = [slots[k] for k in answer_keys]
            by_stimulus = None if ratings is None else {slots[k]: v for k, v in ratings.items()}
            conn.execute(f"UPDATE presentations SET answered_at = {_NOW}, response = ? WHERE token = ?",
                         (json.dumps(response if ratings is None else ratings), token))
            if practice:
                stimuli = json.loads(conn.execute("SELECT stimuli FROM trials WHERE id = ?", (trial_id,)).fetchone()[0])
                protocol, reference = conn.execute(
                    "SELECT t.protocol, tr.reference FROM trials tr JOIN tests t ON t.id = tr.test_id WHERE tr.id = ?",
                    (trial_id,)).fetchone()
                check_answer(protocol, stimuli, presented, response, slots.get(X_SLOT), by_stimulus,
                             hidden_reference=reference)
                return True
            if not self._insert_answer(conn, listener_id, trial_id, presented, response, slots.get(X_SLOT),
                                       by_stimulus, time.time() - shown_unix, played):
                raise BadInputError(ANSWERED)  # answered through another presentation of the same trial
            return True


def _check_play(conn: sqlite3.Connection, token: str, slot: str, seconds: float) -> None:
    """Raise BadInputError when a play report of ``seconds`` for ``slot`` breaks a rule of :meth:`ListeningStore.add_play`."""
    row = conn.execute("SELECT slots, shown_unix, answered_at FROM presentations WHERE token = ?", (token,)).fetchone()
    if row is None:
        raise BadInputError(UNKNOWN_TOKEN)
    if row[2] is not None:
        raise BadInputError(ANSWERED)
    if slot not in json.loads(row[0]):
        raise BadInputError(f"this trial has no sample {slot!r}")
    reports, total = conn.execute("SELECT COUNT(*), COALESCE(SUM(seconds), 0) FROM plays WHERE token = ?",
                                  (token,)).fetchone()
    elapsed = max(0.0, time.time() - row[1])
    if reports >= PLAY_REPORTS_BURST + PLAY_REPORTS_PER_S * elapsed:
        raise BadInputError("too many play reports for this trial; the report was not stored")
    if total + seconds > elapsed + PLAY_SLACK_S:
        raise BadInputError("more play time was reported than has passed since the trial was shown")


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (SQLite then opens it, and gives its
    -wal and -shm files the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass


def _restrict(path: Path, mode: int) -> None:
    """Take group and other permissions away from an existing file or folder of ours (a database
    made by an earlier version was world-readable); others' files and errors are left alone."""
    try:
        info = path.stat()
        if info.st_mode & 0o077 and info.st_uid == os.getuid():
            os.chmod(path, info.st_mode & mode & 0o777)
    except OSError:
        pass


def check_answer(protocol: str, stimuli: Sequence[int], presented: Sequence[int], response: str,
                 x_stimulus: int | None, ratings: dict[int, float] | None, *, hidden_reference: int | None = None) -> None:
    """Raise BadInputError unless the answer fits the trial and the protocol's rules.

    MUSHRA: every presented stimulus rated, each rating a finite number in [0, 100], and at least
    one rated 100 when ``hidden_reference`` (the stimulus that is also the open reference) is
    among the rated ones (ITU-R BS.1534-3).
    """
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
        values = list(ratings.values())
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise BadInputError("every rating must be a number")
        if not all(0.0 <= float(v) <= 100.0 for v in values):
            raise BadInputError("ratings must lie between 0 and 100")
        if hidden_reference is not None and hidden_reference in presented and max(map(float, values)) < 100.0:
            raise BadInputError("rate at least one sample 100: one of them is the reference itself")
