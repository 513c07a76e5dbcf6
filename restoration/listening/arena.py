"""The arena: a public blind leaderboard of restoration methods, one vote per pair of versions.

The *pool* is a set of listening tests the operator adds (any protocol): their stimuli are already
rendered, loudness-matched and of one length per clip. A *match* shows a visitor one clip of a pool
test and an unordered pair of its conditions, as A and B in random order; the MUSHRA hidden
reference and low-pass anchor are left out (the arena ranks systems, not the clean original).
After the vote the visitor learns which systems A and B were, and gets the next pair.

Everything lives in the listening database (its own ``arena_*`` tables, created when missing), and
every write is one ``BEGIN IMMEDIATE`` transaction of :class:`ListeningStore` (WAL,
``synchronous=FULL``): a vote the server acknowledged is on disk before the reply leaves.

A vote counts only when (:class:`ArenaRules`): the arena is open; the match token is the visitor's
latest and unused (single use); at least ``min_vote_s`` passed since the pair was shown; the player
reported both versions played for ``min_play_s`` (or half their length), reports that are bounded
by the wall time since the pair was shown and by a rate per match (those of the listening test);
the visitor has not voted on this pair of this clip before; the visitor and its peer (network
address) are under their vote rates; and the visitor holds at most
``max(share_floor, share_fraction x all votes)`` votes. A refused vote is one
:class:`BadInputError` line and nothing is stored. Visitors are random tokens issued by the
server; each peer may mint a bounded number per hour, so new tokens do not lift the peer's limits.
The two versions of a pair are served by :func:`restoration.listening.serve.serve_copies` (alike in
size, header and date; never bit-identical; random names).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import soundfile as sf

from ..errors import BadInputError, RestorationError
from .protocol import ANCHOR, REFERENCE
from .serve import serve_copies
from .storage import (MIN_PLAY_REPORT_S, PLAY_REPORTS_BURST, PLAY_REPORTS_PER_S, PLAY_SLACK_S, ListeningStore,
                      TestInfo)

log = logging.getLogger(__name__)
#: Conditions that never enter the arena (MUSHRA's hidden reference and low-pass anchor).
EXCLUDED_CONDITIONS = (REFERENCE, ANCHOR)
#: Answers a visitor can give and what they mean.
CHOICES = {"a": "A", "b": "B", "tie": "tie", "none": "tie", "no preference": "tie"}
#: Most visitors whose served copies stay on disk (the longest idle lose theirs first).
SCRATCH_MAX_VISITORS = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS arena_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS arena_pool (
    test_id  TEXT PRIMARY KEY REFERENCES tests(id) ON DELETE CASCADE,
    added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS arena_visitors (
    token        TEXT PRIMARY KEY,
    peer         TEXT NOT NULL,
    created_unix REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS arena_visitors_by_peer ON arena_visitors(peer, created_unix);
CREATE TABLE IF NOT EXISTS arena_matches (
    token        TEXT PRIMARY KEY,
    visitor      TEXT NOT NULL,
    peer         TEXT NOT NULL,
    test_id      TEXT NOT NULL,
    test_name    TEXT NOT NULL,
    clip         TEXT NOT NULL,
    condition_a  TEXT NOT NULL,
    condition_b  TEXT NOT NULL,
    required_s   REAL NOT NULL,
    shown_unix   REAL NOT NULL,
    state        TEXT NOT NULL DEFAULT 'shown' CHECK (state IN ('shown', 'voted', 'replaced'))
);
CREATE INDEX IF NOT EXISTS arena_matches_by_visitor ON arena_matches(visitor, state);
CREATE INDEX IF NOT EXISTS arena_matches_by_peer ON arena_matches(peer, shown_unix);
CREATE TABLE IF NOT EXISTS arena_plays (
    id         INTEGER PRIMARY KEY,
    token      TEXT NOT NULL REFERENCES arena_matches(token) ON DELETE CASCADE,
    slot       TEXT NOT NULL CHECK (slot IN ('A', 'B')),
    position_s REAL NOT NULL,
    seconds    REAL NOT NULL,
    at_unix    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS arena_plays_by_token ON arena_plays(token);
CREATE TABLE IF NOT EXISTS arena_votes (
    id              INTEGER PRIMARY KEY,
    token           TEXT NOT NULL UNIQUE,
    visitor         TEXT NOT NULL,
    peer            TEXT NOT NULL,
    test_id         TEXT NOT NULL,
    test_name       TEXT NOT NULL,
    clip            TEXT NOT NULL,
    condition_a     TEXT NOT NULL,
    condition_b     TEXT NOT NULL,
    pair            TEXT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('A', 'B', 'tie')),
    played_a        REAL NOT NULL,
    played_b        REAL NOT NULL,
    seconds_to_vote REAL NOT NULL,
    created_unix    REAL NOT NULL,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (visitor, test_id, clip, pair)
);
CREATE INDEX IF NOT EXISTS arena_votes_by_visitor ON arena_votes(visitor, created_unix);
CREATE INDEX IF NOT EXISTS arena_votes_by_peer ON arena_votes(peer, created_unix);
"""


@dataclass(frozen=True)
class ArenaRules:
    """What makes a vote count, and the rates that bound each visitor and peer."""

    #: Seconds each version must have been played (or half its length, when shorter than twice this).
    min_play_s: float = 2.0
    #: Seconds between showing a pair and accepting its vote.
    min_vote_s: float = 4.0
    #: Slack between reported play time and the wall time since the pair was shown, seconds.
    play_slack_s: float = PLAY_SLACK_S
    #: Votes per visitor per minute.
    visitor_votes_per_min: int = 10
    #: Votes per peer (network address, every visitor behind it) per minute.
    peer_votes_per_min: int = 60
    #: New visitor tokens per peer per hour.
    peer_visitors_per_hour: int = 60
    #: Any one visitor may hold at most max(share_floor, share_fraction x all votes) votes.
    share_floor: int = 20
    share_fraction: float = 0.10

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise BadInputError(f"arena rule {name} must be a number >= 0, got {value!r}")

    @property
    def peer_pairs_per_min(self) -> int:
        """Pairs served per peer per minute: twice its vote rate plus ten (reloads, skips)."""
        return 2 * int(self.peer_votes_per_min) + 10

    def required_play_s(self, duration_s: float) -> float:
        """Seconds a version of ``duration_s`` must be played: ``min_play_s`` or half the version."""
        return min(float(self.min_play_s), 0.5 * float(duration_s))


@dataclass(frozen=True)
class Vote:
    """One stored vote, as the leaderboard and the CSV export need it."""

    id: int
    visitor: str
    test_id: str
    test_name: str
    clip: str
    condition_a: str
    condition_b: str
    outcome: str
    played_a: float
    played_b: float
    seconds_to_vote: float
    created_at: str

    @property
    def preferred(self) -> str:
        """The condition preferred, or ``tie``."""
        return {"A": self.condition_a, "B": self.condition_b}.get(self.outcome, "tie")


@dataclass(frozen=True)
class Contest:
    """One clip of a pool test and the stimulus of each of its arena conditions."""

    test_id: str
    test_name: str
    clip: str
    stimuli: dict[str, Path]

    def pairs(self) -> list[tuple[str, str]]:
        return list(itertools.combinations(sorted(self.stimuli), 2))


@dataclass(frozen=True)
class ArenaView:
    """What a visitor sees next: a pair (``token`` set) or a message; ``reveal`` names the last pair's systems."""

    visitor: str
    message: str
    token: str | None = None
    files: tuple[Path, Path] | None = None
    min_play_s: float = 0.0
    number: int = 0
    total: int = 0
    reveal: dict | None = None

    def payload(self, file=str) -> dict:
        """The JSON-able dict sent to the client, in the trial player's A/B format; ``file(path)`` converts files."""
        base = {"visitor": self.visitor, "message": self.message, "reveal": self.reveal}
        if self.token is None:
            return {**base, "done": True}
        return {**base, "done": False, "token": self.token, "protocol": "ab", "number": self.number,
                "total": self.total, "practice": False, "min_play_s": round(self.min_play_s, 3), "needs_100": False,
                "responses": ["A", "none", "B"],
                "slots": [{"key": k, "label": k, "rated": True, "file": file(p)} for k, p in zip("AB", self.files)]}


def pair_key(a: str, b: str) -> str:
    """The unordered pair of two condition names as one string."""
    return "\x1f".join(sorted((a, b)))


def parse_choice(choice: str | None) -> str:
    """``A``, ``B`` or ``tie`` from what a client sent (``none``/``no preference`` mean tie)."""
    text = str(choice or "").strip()
    if text.casefold() not in CHOICES:
        raise BadInputError(f"vote {text!r} is not valid; give A, B or tie")
    return CHOICES[text.casefold()]


# ---------------------------------------------------------------------- serving stimuli


class _ServedCopies:
    """The served copies of each visitor's current pair (older ones are removed), for a bounded number of visitors."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._by_visitor: OrderedDict[str, tuple[Path, list[Path]]] = OrderedDict()

    def serve(self, visitor: str, sources: Iterable[Path]) -> list[Path]:
        with self._lock:
            folder, old = self._by_visitor.pop(visitor, (self.root / secrets.token_urlsafe(12), []))
            self._by_visitor[visitor] = (folder, [])
            evicted = []
            while len(self._by_visitor) > SCRATCH_MAX_VISITORS:
                evicted.append(self._by_visitor.popitem(last=False)[1][0])
        for path in old:
            path.unlink(missing_ok=True)
        for stale in evicted:
            shutil.rmtree(stale, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(exist_ok=True, mode=0o700)
        copies = serve_copies(list(sources), folder)
        with self._lock:
            if visitor in self._by_visitor:
                self._by_visitor[visitor][1].extend(copies)
        return copies

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------- the arena


class Arena:
    """The arena over one listening database; served copies go under ``scratch_root``.

    Thread-safe and multi-process safe (state is in SQLite). ``clock`` gives the time in seconds
    (``time.time``; tests pass their own), ``rules`` what makes a vote count.
    """

    def __init__(self, store: ListeningStore, scratch_root: str | os.PathLike, *, rules: ArenaRules | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.rules = rules or ArenaRules()
        self.clock = clock
        self._copies = _ServedCopies(Path(scratch_root))
        with store._transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def close(self) -> None:
        """Remove every served copy."""
        self._copies.close()

    # ------------------------------------------------------------------ operator

    def is_open(self) -> bool:
        with self.store._connection() as conn:
            return _is_open(conn)

    def set_open(self, open_: bool) -> None:
        """Open the arena to votes (it needs a pool with at least one pair) or close it."""
        if open_ and not self.contests():
            raise BadInputError("add a listening test with at least two methods to the pool first")
        with self.store._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO arena_settings (key, value) VALUES ('status', ?)",
                         ("open" if open_ else "closed",))

    def pool(self) -> list[TestInfo]:
        """The listening tests in the pool, oldest first."""
        ids = [r[0] for r in self.store._read("SELECT test_id FROM arena_pool ORDER BY added_at, rowid")]
        return [self.store.get_test(i) for i in ids]

    def add_to_pool(self, tests: Iterable[str]) -> list[TestInfo]:
        """Add listening tests (ids or names) to the pool; each must be rendered and have two arena conditions."""
        infos = [self.store.find_test(t) for t in tests]
        if not infos:
            raise BadInputError("choose one or more listening tests")
        for info in infos:
            if info.status == "rendering":
                raise BadInputError(f"the test {info.name!r} is still rendering")
            if not self._contests_of(info):
                raise BadInputError(f"the test {info.name!r} has no clip with two methods to compare")
        with self.store._transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO arena_pool (test_id) VALUES (?)", [(i.id,) for i in infos])
        return infos

    def remove_from_pool(self, tests: Iterable[str]) -> list[TestInfo]:
        """Take tests out of the pool (their votes stay on the leaderboard)."""
        infos = [self.store.find_test(t) for t in tests]
        with self.store._transaction() as conn:
            conn.executemany("DELETE FROM arena_pool WHERE test_id = ?", [(i.id,) for i in infos])
        return infos

    def reset(self) -> int:
        """Delete every vote, match, play report and visitor (the pool and the open/closed state stay);
        returns the number of votes deleted."""
        with self.store._transaction() as conn:
            count = conn.execute("SELECT COUNT(*) FROM arena_votes").fetchone()[0]
            for table in ("arena_votes", "arena_plays", "arena_matches", "arena_visitors"):
                conn.execute(f"DELETE FROM {table}")
        return int(count)

    def contests(self) -> list[Contest]:
        """Every clip of every pool test with at least two arena conditions."""
        return [c for info in self.pool() for c in self._contests_of(info)]

    def _contests_of(self, info: TestInfo) -> list[Contest]:
        by_clip: dict[str, dict[str, Path]] = {}
        for s in self.store.stimuli(info.id).values():
            if s.condition not in EXCLUDED_CONDITIONS:
                by_clip.setdefault(s.clip, {})[s.condition] = s.path
        return [Contest(info.id, info.name, clip, stimuli) for clip, stimuli in by_clip.items() if len(stimuli) >= 2]

    def votes(self) -> list[Vote]:
        """Every stored vote, oldest first; the visitor is a number in order of first vote (tokens stay secret)."""
        rows = self.store._read(
            "SELECT id, visitor, test_id, test_name, clip, condition_a, condition_b, outcome, played_a, played_b, "
            "seconds_to_vote, created_at FROM arena_votes ORDER BY id")
        numbers: dict[str, int] = {}
        return [Vote(r[0], f"visitor {numbers.setdefault(r[1], len(numbers) + 1)}", *r[2:]) for r in rows]

    # ------------------------------------------------------------------ visitors

    def knows(self, visitor: str | None) -> bool:
        """Whether ``visitor`` is a token this arena issued (and no reset has deleted since)."""
        return bool(self.store._read("SELECT 1 FROM arena_visitors WHERE token = ?", (str(visitor or ""),)))

    def next(self, visitor: str | None, peer: str) -> ArenaView:
        """The next pair for ``visitor`` (a new visitor token when empty); ``peer`` is the client's address."""
        if not self.is_open():
            raise BadInputError("the arena is closed; come back later")
        visitor = self._visitor(visitor, peer)
        return self._serve(visitor, peer)

    def played(self, token: str | None, slot: str | None, seconds: float, position_s: float = 0.0, *,
               visitor: str | None = None) -> dict[str, float]:
        """Record that version ``slot`` (A or B) of a match was heard for ``seconds``; returns seconds per slot.

        Refused (and not written): an unknown, voted or replaced match, another visitor's match, a slot
        other than A or B, a time that is not finite or under the listening test's shortest report, more
        reports than the listening test takes (a burst plus a rate since the pair was shown), and more
        play time in all than has passed since the pair was shown. The checks run on a read first, so a
        flood of refused reports never takes the write lock.
        """
        seconds, position_s, slot = float(seconds), float(position_s), str(slot or "")
        if not (math.isfinite(seconds) and math.isfinite(position_s)) or seconds < MIN_PLAY_REPORT_S \
                or position_s < 0:
            raise BadInputError(f"a play report needs a duration of at least {MIN_PLAY_REPORT_S} s and a position >= 0")
        if slot not in ("A", "B"):
            raise BadInputError(f"an arena pair has no version {slot!r}; give A or B")
        with self.store._connection() as conn:
            self._check_play(conn, token, visitor, seconds)
        with self.store._transaction() as conn:
            match = self._check_play(conn, token, visitor, seconds)  # again under the lock: reports may race
            conn.execute("INSERT INTO arena_plays (token, slot, position_s, seconds, at_unix) VALUES (?, ?, ?, ?, ?)",
                         (match["token"], slot, position_s, seconds, self.clock()))
            return _played(conn, match["token"])

    def _check_play(self, conn, token: str | None, visitor: str | None, seconds: float) -> dict:
        """The open match of ``token``; BadInputError when a report of ``seconds`` breaks a rule of :meth:`played`."""
        match = self._open_match(conn, token, visitor)
        count, total = conn.execute("SELECT COUNT(*), COALESCE(SUM(seconds), 0) FROM arena_plays WHERE token = ?",
                                    (match["token"],)).fetchone()
        elapsed = max(0.0, self.clock() - match["shown_unix"])
        if count >= PLAY_REPORTS_BURST + PLAY_REPORTS_PER_S * elapsed:
            raise BadInputError("too many play reports for this pair; the report was not stored")
        if total + seconds > elapsed + self.rules.play_slack_s:
            raise BadInputError("more play time was reported than has passed since the pair was shown")
        return match

    def vote(self, visitor: str | None, token: str | None, choice: str | None, peer: str) -> ArenaView:
        """Store a vote (``A``, ``B`` or ``tie``) on the pair of ``token`` and return the next pair, whose
        message reveals the systems behind A and B. A refused vote raises BadInputError and stores nothing."""
        outcome = parse_choice(choice)
        visitor = str(visitor or "")
        rules, now = self.rules, self.clock()
        with self.store._transaction() as conn:
            if not _is_open(conn):
                raise BadInputError("the arena is closed; the vote was not stored")
            match = self._open_match(conn, token, visitor)
            waited = now - match["shown_unix"]
            if waited + 1e-9 < rules.min_vote_s:
                raise BadInputError(f"too fast: listen to both versions (at least {rules.min_vote_s:g} s per vote)")
            played = _played(conn, match["token"])
            short = [k for k in "AB" if played.get(k, 0.0) + 1e-6 < match["required_s"]]
            if short:
                raise BadInputError(f"play both versions for at least {match['required_s']:g} s before voting "
                                    f"(not yet: {', '.join(short)})")
            pair = pair_key(match["condition_a"], match["condition_b"])
            if conn.execute("SELECT 1 FROM arena_votes WHERE visitor = ? AND test_id = ? AND clip = ? AND pair = ?",
                            (visitor, match["test_id"], match["clip"], pair)).fetchone():
                raise BadInputError("you have already voted on this pair")
            recent = conn.execute("SELECT COUNT(*) FROM arena_votes WHERE visitor = ? AND created_unix > ?",
                                  (visitor, now - 60.0)).fetchone()[0]
            if recent >= rules.visitor_votes_per_min:
                raise BadInputError(f"at most {rules.visitor_votes_per_min} votes a minute; please wait a little")
            from_peer = conn.execute("SELECT COUNT(*) FROM arena_votes WHERE peer = ? AND created_unix > ?",
                                     (match["peer"], now - 60.0)).fetchone()[0]
            if from_peer >= rules.peer_votes_per_min:
                raise BadInputError("too many votes from your network address this minute; please wait a little")
            total = conn.execute("SELECT COUNT(*) FROM arena_votes").fetchone()[0]
            mine = conn.execute("SELECT COUNT(*) FROM arena_votes WHERE visitor = ?", (visitor,)).fetchone()[0]
            if mine + 1 > max(rules.share_floor, rules.share_fraction * (total + 1)):
                raise BadInputError("you have cast your share of the votes for now; thank you, come back later")
            conn.execute(
                "INSERT INTO arena_votes (token, visitor, peer, test_id, test_name, clip, condition_a, condition_b, "
                "pair, outcome, played_a, played_b, seconds_to_vote, created_unix) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (match["token"], visitor, match["peer"], match["test_id"], match["test_name"], match["clip"],
                 match["condition_a"], match["condition_b"], pair, outcome, played.get("A", 0.0),
                 played.get("B", 0.0), waited, now))
            conn.execute("UPDATE arena_matches SET state = 'voted' WHERE token = ?", (match["token"],))
        reveal = {"A": match["condition_a"], "B": match["condition_b"], "vote": outcome}
        said = "a tie" if outcome == "tie" else f"{outcome} ({reveal[outcome]})"
        heard = f"Thank you: your vote counts. A was {reveal['A']}, B was {reveal['B']}; you chose {said}."
        try:
            view = self._serve(visitor, match["peer"]) if self.is_open() else None
        except BadInputError as exc:  # the vote is stored: say why no next pair comes
            return ArenaView(visitor, f"{heard} {exc}", reveal=reveal)
        except (RestorationError, OSError, RuntimeError):  # an unreadable stimulus, a full disk
            log.exception("the arena could not serve the next pair")
            return ArenaView(visitor, f"{heard} The next pair could not be served; press Start to try again.",
                             reveal=reveal)
        if view is None:
            return ArenaView(visitor, f"{heard} The arena is closed now.", reveal=reveal)
        return ArenaView(visitor, f"{heard} {view.message}", view.token, view.files, view.min_play_s, view.number,
                         view.total, reveal)

    # ------------------------------------------------------------------ internals

    def _visitor(self, visitor: str | None, peer: str) -> str:
        """The visitor's token, checked; a new one (within the peer's hourly budget) when empty."""
        text = str(visitor or "").strip()
        now = self.clock()
        with self.store._transaction() as conn:
            if text:
                if conn.execute("SELECT 1 FROM arena_visitors WHERE token = ?", (text,)).fetchone() is None:
                    raise BadInputError("unknown visitor; start again with an empty visitor")
                return text
            minted = conn.execute("SELECT COUNT(*) FROM arena_visitors WHERE peer = ? AND created_unix > ?",
                                  (peer, now - 3600.0)).fetchone()[0]
            if minted >= self.rules.peer_visitors_per_hour:
                raise BadInputError("too many new visitors from your network address; try again later")
            token = secrets.token_urlsafe(18)
            conn.execute("INSERT INTO arena_visitors (token, peer, created_unix) VALUES (?, ?, ?)", (token, peer, now))
            return token

    def _serve(self, visitor: str, peer: str) -> ArenaView:
        """Draw the visitor's next pair (fewest votes first), record the match and serve fresh copies."""
        contests = self.contests()
        voted = {(r[0], r[1], r[2]) for r in self.store._read(
            "SELECT test_id, clip, pair FROM arena_votes WHERE visitor = ?", (visitor,))}
        counts = {(r[0], r[1], r[2]): r[3] for r in self.store._read(
            "SELECT test_id, clip, pair, COUNT(*) FROM arena_votes GROUP BY test_id, clip, pair")}
        options = [(contest, a, b) for contest in contests for a, b in contest.pairs()]
        left = [o for o in options if (o[0].test_id, o[0].clip, pair_key(o[1], o[2])) not in voted]
        if not left:
            return ArenaView(visitor, f"You have voted on all {len(options)} pairs in the arena. Thank you!")
        fewest = min(counts.get((c.test_id, c.clip, pair_key(a, b)), 0) for c, a, b in left)
        least = [o for o in left if counts.get((o[0].test_id, o[0].clip, pair_key(o[1], o[2])), 0) == fewest]
        contest, a, b = least[secrets.randbelow(len(least))]
        if secrets.randbelow(2):
            a, b = b, a
        duration = min(sf.info(str(contest.stimuli[c])).duration for c in (a, b))
        required = self.rules.required_play_s(duration)
        token, now = secrets.token_urlsafe(24), self.clock()
        with self.store._transaction() as conn:
            served = conn.execute("SELECT COUNT(*) FROM arena_matches WHERE peer = ? AND shown_unix > ?",
                                  (peer, now - 60.0)).fetchone()[0]
            if served >= self.rules.peer_pairs_per_min:
                raise BadInputError("too many pairs requested from your network address this minute; please wait")
            conn.execute("UPDATE arena_matches SET state = 'replaced' WHERE visitor = ? AND state = 'shown'", (visitor,))
            conn.execute("INSERT INTO arena_matches (token, visitor, peer, test_id, test_name, clip, condition_a, "
                         "condition_b, required_s, shown_unix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (token, visitor, peer, contest.test_id, contest.test_name, contest.clip, a, b, required, now))
        files = tuple(self._copies.serve(visitor, [contest.stimuli[a], contest.stimuli[b]]))
        number = len(options) - len(left) + 1
        message = (f"Pair {number} of {len(options)}. Listen to A and B (switching keeps the position), then "
                   "choose the better one, or No preference.")
        return ArenaView(visitor, message, token, files, required, number, len(options))

    def _open_match(self, conn, token: str | None, visitor: str | None) -> dict:
        """The match of ``token`` that may still get plays and a vote (and belongs to ``visitor`` when given)."""
        row = conn.execute("SELECT token, visitor, peer, test_id, test_name, clip, condition_a, condition_b, "
                           "required_s, shown_unix, state FROM arena_matches WHERE token = ?",
                           (str(token or ""),)).fetchone()
        if row is None or (visitor is not None and row[1] != visitor):
            raise BadInputError("unknown pair token; ask for the next pair")
        match = dict(zip(("token", "visitor", "peer", "test_id", "test_name", "clip", "condition_a", "condition_b",
                          "required_s", "shown_unix", "state"), row))
        if match["state"] == "voted":
            raise BadInputError("this pair is already voted (a pair token counts once)")
        if match["state"] == "replaced":
            raise BadInputError("this pair was replaced by a newer one; vote on the newest pair")
        return match


def _is_open(conn) -> bool:
    row = conn.execute("SELECT value FROM arena_settings WHERE key = 'status'").fetchone()
    return row is not None and row[0] == "open"


def _played(conn, token: str) -> dict[str, float]:
    return {r[0]: float(r[1]) for r in conn.execute(
        "SELECT slot, SUM(seconds) FROM arena_plays WHERE token = ? GROUP BY slot", (token,))}
