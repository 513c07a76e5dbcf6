"""Serving a listening test: join, the next trial, play reports and answers.

Both the app's Listen tab and its scriptable endpoints (``listening_join``, ``listening_played``,
``listening_answer``) go through :class:`ListeningService`, so the same rules hold for a browser
and for a script:

* every trial shown is a *presentation* with an opaque random token kept in the database; the
  client gets the token, slot labels and audio files, never a stimulus id, seed or method name;
* every slot's audio is a fresh copy (:func:`restoration.listening.serve.serve_copies`): 24-bit
  PCM WAV of one size per trial, its own inaudible dither, a random name in the listener's
  scratch folder (mode 0700) and the trial's one modification time, so no two slots, listeners or
  visits share a URL, a file name or file bytes, and size, header, name and date say nothing;
* the server checks every answer (values, ratings, the MUSHRA 100 rule) and refuses one before
  every sample has been played for :func:`required_play_s` seconds, as reported by the player;
  an answered or unknown token is refused, and so are play reports beyond the wall time and the
  rate that :meth:`ListeningStore.add_play` allows.

Decoding two files and comparing their samples still tells identical audio apart from different
audio, as the listener's ears do; what is sent carries nothing else that does.
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf

from ..errors import BadInputError
from .protocol import RESPONSES, listener_plan
from .serve import serve_copies
from .storage import ANSWERED, REFERENCE_SLOT, X_SLOT, Listener, ListeningStore, Shown

#: Seconds each sample must have been played before an answer is accepted (or half of the
#: sample, when it is shorter than twice this).
MIN_PLAY_S = 2.0
#: Scratch folders of listeners who did nothing for this long are removed, seconds...
SCRATCH_MAX_AGE_S = 6 * 3600
#: ... and beyond this many listeners with files on disk, the longest idle ones lose theirs (their
#: players have decoded the audio already), so that joining under many names cannot fill the disk.
SCRATCH_MAX_LISTENERS = 200
INSTRUCTIONS = {
    "ab": "Listen to A and B, then choose the one you prefer (or No preference).",
    "abx": "X is the same as either A or B. Listen to all three, then say which one X is.",
    "mushra": "Rate every sample from 0 (bad) to 100 (excellent){reference}.",
}


@dataclass(frozen=True)
class SlotView:
    """One player slot as the client sees it: a key (``A``, ``B``, ``X``, ``1``.., ``R``), a label and a file."""

    key: str
    label: str
    path: Path
    rated: bool


@dataclass(frozen=True)
class TrialView:
    """What a listener is shown next: a trial (``token`` set) or the end of the test (``done``)."""

    done: bool
    message: str
    token: str | None = None
    protocol: str | None = None
    number: int = 0
    total: int = 0
    practice: bool = False
    slots: tuple[SlotView, ...] = ()
    min_play_s: float = 0.0
    needs_100: bool = False

    def payload(self, file=str) -> dict:
        """The JSON-able dict sent to the client; ``file(path)`` converts each audio file."""
        if self.done:
            return {"done": True, "message": self.message}
        return {"done": False, "message": self.message, "token": self.token, "protocol": self.protocol,
                "number": self.number, "total": self.total, "practice": self.practice,
                "min_play_s": round(self.min_play_s, 3), "needs_100": self.needs_100,
                "responses": list(RESPONSES[self.protocol]) if self.protocol != "mushra" else [],
                "slots": [{"key": s.key, "label": s.label, "rated": s.rated, "file": file(s.path)} for s in self.slots]}


def required_play_s(duration_s: float) -> float:
    """Seconds a sample of ``duration_s`` must be played before an answer: 2 s, or half a shorter sample."""
    return min(MIN_PLAY_S, 0.5 * float(duration_s))


class ListeningService:
    """Listeners' side of the listening tests, over one store; files go under ``scratch_root``.

    Thread-safe: one instance serves every request of a web server.
    """

    def __init__(self, store: ListeningStore, scratch_root: str | Path) -> None:
        self.store = store
        self.scratch_root = Path(scratch_root)
        self._lock = threading.Lock()
        self._folders: dict[int, Path] = {}     # listener id -> scratch folder (random name)
        self._files: dict[int, list[Path]] = {}  # listener id -> files of the trial on show

    # ------------------------------------------------------------------ the three calls

    def join(self, test: str | None, name: str | None) -> TrialView:
        """Join ``test`` (its id or name) as ``name``: the first unanswered trial, or the end."""
        info = self.store.find_test(test)
        listener = self.store.join(info.id, name)
        self._sweep()
        return self._next(listener)

    def played(self, token: str | None, slot: str, seconds: float, position_s: float = 0.0) -> dict[str, float]:
        """Record a play report of the player; returns the seconds played per slot so far."""
        self.store.add_play(str(token or ""), str(slot), position_s, seconds)
        return self.store.played(str(token))

    def answer(self, token: str | None, answer: Any) -> TrialView:
        """Store the answer to the trial of ``token``; returns the next trial or the end.

        ``answer`` is ``A``, ``B`` or ``none`` (A/B), ``A`` or ``B`` (ABX), or for MUSHRA the ratings
        by slot key, as a dict or its JSON (``{"1": 100, "2": 35, ...}``), or a list in slot order.
        """
        shown = self.store.presentation(token)
        if shown.answered:
            raise BadInputError(ANSWERED)
        test = self.store.get_test(shown.test_id)
        if test.status != "ready":
            raise BadInputError(f"the test {test.name!r} is closed; the answer was not stored")
        response, ratings = parse_answer(test.protocol, shown, answer)
        stimuli = self.store.stimuli(test.id)
        required = {k: required_play_s(sf.info(str(stimuli[s].path)).duration)
                    for k, s in shown.slots.items() if k != REFERENCE_SLOT}
        self.store.answer_presentation(shown.token, response, ratings=ratings, required_play_s=required)
        return self._next(self.store.join(shown.test_id, shown.listener))

    def close(self) -> None:
        """Remove every scratch file of this service."""
        shutil.rmtree(self.scratch_root, ignore_errors=True)

    # ------------------------------------------------------------------ building a view

    def _next(self, listener: Listener) -> TrialView:
        test = self.store.get_test(listener.test_id)
        trials = {t.id: t for t in self.store.trials(test.id)}
        plan = listener_plan(test.protocol, [(t.id, len(t.stimuli)) for t in trials.values()], listener.seed)
        done = self.store.answered(listener.id)
        remaining = [p for p in plan if p.trial not in done]
        if not remaining:
            self._drop_folder(listener.id)
            return TrialView(True, f"All {len(plan)} trials done. Thank you, {listener.name}!")
        practice = bool(test.settings.get("practice")) and not done and not self.store.practiced(listener.id)
        shown = remaining[0]
        if practice:  # the same trial in another order, not counted
            trial = trials[shown.trial]
            shown = listener_plan(test.protocol, [(trial.id, len(trial.stimuli))], listener.seed ^ 0x5EED)[0]
        trial = trials[shown.trial]
        presented = [trial.stimuli[i] for i in shown.order]
        if test.protocol == "mushra":
            slots = {str(k + 1): s for k, s in enumerate(presented)}
            if trial.reference is not None:
                slots[REFERENCE_SLOT] = trial.reference
        else:
            slots = {"A": presented[0], "B": presented[1]}
            if shown.x is not None:
                slots[X_SLOT] = presented[shown.x]
        token = self.store.add_presentation(listener.id, trial.id, slots, practice=practice)
        stimuli = self.store.stimuli(test.id)
        paths = self._copies(listener.id, [stimuli[s].path for s in slots.values()])
        views = tuple(SlotView(key, _label(test.protocol, key), path, key not in (X_SLOT, REFERENCE_SLOT))
                      for key, path in zip(slots, paths))
        shortest = min(sf.info(str(p)).duration for k, p in zip(slots, paths) if k != REFERENCE_SLOT)
        number = len(plan) - len(remaining) + 1
        needs_100 = trial.reference is not None and trial.reference in presented
        how = INSTRUCTIONS[test.protocol].format(
            reference="; one of the samples is the reference itself: rate at least one 100" if needs_100 else "")
        heading = "Practice trial (not counted)" if practice else f"Trial {number} of {len(plan)}"
        return TrialView(False, f"{heading}. {how}", token, test.protocol, 0 if practice else number, len(plan),
                         practice, views, required_play_s(shortest), needs_100)

    # ------------------------------------------------------------------ scratch files

    def _copies(self, listener_id: int, sources: list[Path]) -> list[Path]:
        """Fresh served copies (:func:`serve_copies`) of the sources of one trial in the listener's
        folder (mode 0700); the listener's previous copies are removed."""
        with self._lock:
            folder = self._folders.get(listener_id)
            if folder is None:
                folder = self._folders[listener_id] = self.scratch_root / secrets.token_urlsafe(12)
            previous = self._files.pop(listener_id, [])
        for old in previous:
            old.unlink(missing_ok=True)
        self.scratch_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        copies = serve_copies(sources, folder)
        with self._lock:
            self._files.setdefault(listener_id, []).extend(copies)
        return copies

    def _drop_folder(self, listener_id: int) -> None:
        with self._lock:
            self._files.pop(listener_id, None)
            folder = self._folders.pop(listener_id, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _sweep(self) -> None:
        """Remove the scratch folders of listeners idle for :data:`SCRATCH_MAX_AGE_S`, and of the longest
        idle ones beyond :data:`SCRATCH_MAX_LISTENERS`."""
        cutoff = time.time() - SCRATCH_MAX_AGE_S
        with self._lock:
            touched = {k: folder.stat().st_mtime if folder.exists() else 0.0 for k, folder in self._folders.items()}
            by_age = sorted(touched, key=touched.get)
            stale = [k for k in by_age if touched[k] < cutoff]
            stale += [k for k in by_age[:max(0, len(by_age) - SCRATCH_MAX_LISTENERS)] if k not in stale]
            for k in stale:
                shutil.rmtree(self._folders.pop(k), ignore_errors=True)
                self._files.pop(k, None)


def parse_answer(protocol: str, shown: Shown, answer: Any) -> tuple[str, dict[str, float] | None]:
    """``(response, ratings by slot key or None)`` from what a client sent; BadInputError when malformed."""
    if protocol != "mushra":
        text = str(answer or "").strip()
        response = {"a": "A", "b": "B", "none": "none", "no preference": "none"}.get(text.casefold(), text)
        if response not in RESPONSES[protocol]:
            raise BadInputError(f"answer {text!r} is not valid in a {protocol} test; "
                                f"give {' or '.join(RESPONSES[protocol])}")
        return response, None
    if isinstance(answer, str):
        try:
            answer = json.loads(answer or "null")
        except ValueError:
            raise BadInputError("MUSHRA ratings must be JSON, e.g. {\"1\": 100, \"2\": 40}") from None
    keys = [k for k in shown.slots if k not in (X_SLOT, REFERENCE_SLOT)]
    if isinstance(answer, list):
        if len(answer) != len(keys):
            raise BadInputError(f"rate every sample: {len(keys)} ratings expected, got {len(answer)}")
        answer = dict(zip(keys, answer))
    if not isinstance(answer, dict):
        raise BadInputError("MUSHRA ratings must map each sample to a number")
    ratings = {str(k): v for k, v in answer.items()}
    unknown = sorted(set(ratings) - set(keys))
    if unknown:
        raise BadInputError(f"this trial has no sample {unknown[0]!r}")
    unset = [k for k in keys if ratings.get(k) is None]
    if unset:
        raise BadInputError(f"rate every sample (not rated: {', '.join(unset)})")
    for key, value in ratings.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BadInputError(f"the rating of sample {key} is not a number")
    return "ratings", {k: float(v) for k, v in ratings.items()}


def _label(protocol: str, key: str) -> str:
    if key == REFERENCE_SLOT:
        return "Reference"
    return f"Sample {key}" if protocol == "mushra" else key

