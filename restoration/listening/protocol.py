"""Blind-test protocols: which trials a test has, and how each listener sees them.

A test compares *conditions* (restoration methods, plus a hidden reference and a low-pass anchor
in MUSHRA) on *clips*. :func:`design_trials` gives the canonical trials of a test; the order in
which a listener meets them, which condition plays as A or B, and which one is X are drawn by
:func:`listener_plan` from a seed that is an HMAC of the test id and the listener's name under the
database's secret: a listener who comes back gets exactly the same sequence, and nobody without
the secret (which never leaves the server) can compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import random
import re
from dataclasses import dataclass
from typing import Sequence

from ..errors import BadInputError

#: Protocol id -> label shown to the operator.
PROTOCOLS = {
    "ab": "A/B preference (A, B or no preference)",
    "abx": "ABX (is X A or B?)",
    "mushra": "MUSHRA-style 0-100 ratings",
}
#: Answers a listener can give, per protocol (MUSHRA answers are ratings).
RESPONSES = {"ab": ("A", "B", "none"), "abx": ("A", "B"), "mushra": ("ratings",)}
#: Condition names of the MUSHRA hidden reference and low-pass anchor.
REFERENCE = "reference"
ANCHOR = "anchor"
#: Cut-off of the MUSHRA low-pass anchor, Hz (ITU-R BS.1534 "LPA 3.5 kHz").
ANCHOR_HZ = 3500.0
#: Most conditions rated on one MUSHRA screen (ITU-R BS.1534 allows 12 including the anchors).
MAX_MUSHRA_CONDITIONS = 12
MAX_NAME_CHARS = 80


@dataclass(frozen=True)
class TrialSpec:
    """One canonical trial: the clip and the conditions compared on it (2 for A/B and ABX)."""

    clip: str
    conditions: tuple[str, ...]


@dataclass(frozen=True)
class Presentation:
    """How one listener sees one trial.

    ``order`` holds indices into the trial's conditions in the order they are shown (slot 0 is A,
    slot 1 is B, or the MUSHRA rows top to bottom); ``x`` is the slot that X repeats (ABX only).
    """

    trial: int
    order: tuple[int, ...]
    x: int | None = None


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise BadInputError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    return protocol


def design_trials(protocol: str, clips: Sequence[tuple[str, Sequence[str]]]) -> list[TrialSpec]:
    """Canonical trials for ``clips``, a sequence of ``(clip name, condition names)``.

    A/B and ABX compare every unordered pair of a clip's conditions once; MUSHRA rates all of a
    clip's conditions on one screen. Raises :class:`BadInputError` when a clip has too few (fewer
    than two) or, for MUSHRA, too many conditions, or when names repeat.
    """
    check_protocol(protocol)
    if not clips:
        raise BadInputError("a test needs at least one clip")
    names = [name for name, _ in clips]
    if len(set(names)) != len(names):
        raise BadInputError(f"clip names repeat: {', '.join(sorted(n for n in set(names) if names.count(n) > 1))}")
    trials = []
    for clip, conditions in clips:
        conditions = tuple(conditions)
        if len(set(conditions)) != len(conditions):
            raise BadInputError(f"clip {clip}: a condition appears twice")
        if len(conditions) < 2:
            raise BadInputError(f"clip {clip}: a blind test needs at least two conditions, got {len(conditions)}")
        if protocol == "mushra":
            if len(conditions) > MAX_MUSHRA_CONDITIONS:
                raise BadInputError(f"clip {clip}: MUSHRA rates at most {MAX_MUSHRA_CONDITIONS} conditions "
                                    f"on one screen, got {len(conditions)}")
            trials.append(TrialSpec(clip, conditions))
        else:
            trials.extend(TrialSpec(clip, pair) for pair in itertools.combinations(conditions, 2))
    return trials


def normalize_name(name: str | None) -> str:
    """A listener's name with surrounding and repeated white space removed; empty or long names raise."""
    text = re.sub(r"\s+", " ", str(name or "")).strip()
    if not text:
        raise BadInputError("enter your name (any nickname) to start")
    if len(text) > MAX_NAME_CHARS:
        raise BadInputError(f"the name is longer than {MAX_NAME_CHARS} characters")
    return text


def listener_seed(secret: bytes, test_id: str, name: str) -> int:
    """A 63-bit seed: HMAC-SHA256 under ``secret`` of the test id and the normalized, case-folded
    listener name; stable across runs, unpredictable without the secret."""
    message = f"{test_id}\x00{normalize_name(name).casefold()}".encode()
    digest = hmac.new(bytes(secret), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def listener_plan(protocol: str, trials: Sequence[tuple[int, int]], seed: int) -> list[Presentation]:
    """The sequence of trials one listener gets.

    ``trials`` holds ``(trial id, number of conditions)``. The trial order is shuffled; in A/B and
    ABX every trial swaps sides on its own fair coin, and in ABX X repeats A or B on another fair
    coin of its own, so no answer follows from the others (a listener sure of all other answers
    still guesses the last one at 1/2, and the binomial test against guessing holds answer by
    answer); MUSHRA shuffles the rows of every screen. The same seed gives the same plan on any
    Python version (only ``Random.random`` is used, whose stream is stable).
    """
    check_protocol(protocol)
    rng = random.Random(seed)
    order = _shuffled(list(trials), rng)
    if protocol == "mushra":
        return [Presentation(trial, tuple(_shuffled(list(range(n)), rng))) for trial, n in order]
    plan = []
    for trial, n in order:
        if n != 2:
            raise BadInputError(f"trial {trial} of a {protocol} test has {n} conditions, not 2")
        swap = rng.random() < 0.5
        x = int(rng.random() < 0.5) if protocol == "abx" else None
        plan.append(Presentation(trial, (1, 0) if swap else (0, 1), x))
    return plan


def _shuffled(items: list, rng: random.Random) -> list:
    """Fisher-Yates over ``rng.random()`` (``random.shuffle``'s integer draws may change between versions)."""
    for i in range(len(items) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        items[i], items[j] = items[j], items[i]
    return items
