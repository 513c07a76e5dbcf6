"""The user's own files in the Studio: outputs of other tools (or any clip) added to this session's
history, so that any two of them, or one of them and a result of this session, are compared like
results (spectrograms, PSD, metrics table, A/B player).

Names follow :mod:`restoration.conditions`: ``song.audiosr.wav`` is clip ``song``, condition
``audiosr``; ``song.reference.wav`` is also the clean reference of the metrics whenever a file of clip
``song`` is compared; a name without a condition (``mix.wav``) is used as it is. A ``.zip`` is
extracted flat (:func:`restoration.conditions.extract_zip`) into a scratch folder the server picks.
Every file is read within the server's :class:`~studio.guard.Limits` before it is added; what cannot
be used is one line each, and the rest is added.

Two sides are compared only when they are versions of one clip: their durations (and the
reference's) differ by at most :data:`MAX_LENGTH_GAP_S` or :data:`MAX_LENGTH_GAP` of the longer, since
the pictures and the A/B player line them up in time. Sample rates and channel counts may differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from restoration import BadInputError, RestorationError
from restoration.conditions import AUDIO_SUFFIXES, REFERENCE, Skipped, extract_zip, name_problem, split_name

from . import guard, history as session_history
from .comparison import Side
from .downloads import source_stem

#: Files one request may add (the audio inside zips included) and files one session may hold.
MAX_FILES = 16
MAX_SESSION_FILES = 64
ARCHIVE = ".zip"
#: Longest difference in duration between two compared signals: seconds, or a fraction of the longer.
MAX_LENGTH_GAP_S = 0.5
MAX_LENGTH_GAP = 0.02


@dataclass(frozen=True)
class OwnFile:
    """A file as its name describes it: ``clip`` and ``condition`` (None for a name without one)."""

    path: Path
    clip: str
    condition: str | None

    @property
    def label(self) -> str:
        return f"{self.clip} · {self.condition}" if self.condition else self.clip


def name_file(path: str | Path) -> OwnFile:
    """``song.audiosr.wav`` -> clip ``song``, condition ``audiosr``; any other name -> its (safe) stem."""
    path = Path(path)
    parts = split_name(path.name)
    if parts and not name_problem(*parts):
        return OwnFile(path, *parts)
    return OwnFile(path, source_stem(path), None)


def is_reference(entry: dict) -> bool:
    """Whether a history entry is one of the user's files named ``<clip>.reference.<ext>``."""
    return bool(entry.get("file")) and (entry["file"]["condition"] or "").lower() == REFERENCE


def gather(paths: Iterable[str | Path], folder_for: Callable[[str], Path], *,
           max_bytes: int) -> tuple[list[Path], list[Skipped]]:
    """The audio files among ``paths``, each ``.zip`` replaced by its audio files (extracted flat into
    ``folder_for("files")``, at most :data:`MAX_FILES` of them and ``max_bytes`` in all); what is
    neither audio nor a readable zip is skipped with its reason."""
    found: list[Path] = []
    skipped: list[Skipped] = []
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        if suffix == ARCHIVE:
            try:
                members = extract_zip(path, folder_for("files"), max_members=MAX_FILES, max_bytes=max_bytes)
            except BadInputError as exc:
                skipped.append(Skipped(path.name, str(exc)))
                continue
            if not members:
                skipped.append(Skipped(path.name, f"holds no audio files ({', '.join(AUDIO_SUFFIXES)})"))
            found += members
        elif suffix in AUDIO_SUFFIXES:
            found.append(path)
        else:
            skipped.append(Skipped(path.name, f"neither audio ({', '.join(AUDIO_SUFFIXES)}) nor a {ARCHIVE}"))
    return found, skipped


def add(paths: Iterable[str | Path], history: list[dict], *, folder_for: Callable[[str], Path],
        limits: guard.Limits, playable: Callable[[Path, np.ndarray, int], str]) -> tuple[list[dict], list[Skipped]]:
    """Read the user's files (audio or zips) within ``limits`` and append each readable one to
    ``history`` (in place: a restoration finishing meanwhile keeps them); returns the entries added
    (ordered by name) and what was skipped. ``playable(path, y, sr)`` gives the file the A/B player plays.

    Raises :class:`BadInputError` when there is nothing to add, naming the first problem.
    """
    paths = list(paths)
    if not paths:
        raise BadInputError(f"no files: add audio files ({', '.join(AUDIO_SUFFIXES)}) or a {ARCHIVE} of them")
    files, skipped = gather(paths, folder_for, max_bytes=int(limits.max_upload_mb * 1e6))
    room = min(MAX_FILES, MAX_SESSION_FILES - sum(1 for h in history if h.get("file")))
    added: list[dict] = []
    clock = time.strftime("%H:%M:%S")
    for own in sorted(map(name_file, files), key=lambda f: (f.clip, f.condition or "", f.path.name)):
        if len(added) >= room:
            skipped.append(Skipped(own.path.name, f"not added: at most {MAX_FILES} files at once and "
                                                  f"{MAX_SESSION_FILES} in a session"))
            continue
        try:
            y, sr = guard.read_clip(str(own.path), own.path.name, limits)
        except RestorationError as exc:
            skipped.append(Skipped(own.path.name, guard.scrub(str(exc))))
            continue
        run = len(history) + 1
        side = Side(playable(own.path, y, sr), f"#{run} {own.label}", sr)
        history.append(session_history.file_entry(run, clock=clock, name=own.path.name, clip=own.clip,
                                                  condition=own.condition, side=side))
        added.append(history[-1])
    if not added:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise BadInputError(f"none of the files could be added: {line(skipped[0])}{more}")
    return added, skipped


def line(skipped: Skipped) -> str:
    """One line for a skipped file: the reason, prefixed with the file's name unless it names it."""
    return skipped.reason if skipped.where in skipped.reason else str(skipped)


def status(added: list[dict], skipped: list[Skipped]) -> str:
    """The status box: what was added (and which references now serve which clip), then one line per skipped file."""
    lines = [f"Added {len(added)} file(s): {', '.join(h['restored']['label'] for h in added)}. "
             "Pick any two as A and B below (or one and a result) and press A/B these two."]
    for clip in sorted({h["file"]["clip"] for h in added if is_reference(h)}):
        lines.append(f"{clip}.reference is the clean reference of the metrics whenever a file of {clip} is compared.")
    lines += [f"Skipped: {line(s)}" for s in skipped]
    return "\n".join(lines)


def clip_reference(history: list[dict], key: str) -> dict | None:
    """The latest ``<clip>.reference`` file of this session for the clip of entry ``key`` (None when
    ``key`` is not one of the user's files or its clip has no reference)."""
    entry = next((h for h in history if str(h["run"]) == str(key)), None)
    if not entry or not entry.get("file"):
        return None
    clip = entry["file"]["clip"]
    return next((h for h in reversed(history) if is_reference(h) and h["file"]["clip"] == clip), None)


def pair_reference(history: list[dict], a_key: str, b_key: str, uploaded: str | None) -> tuple[str | None, str]:
    """The clean reference of comparing ``a_key`` with ``b_key`` and a note for the caption: the
    ``<clip>.reference`` file of the user's files compared (when both agree on one), else the
    reference uploaded in 1 · Source."""
    found = {h["run"]: h for h in (clip_reference(history, a_key), clip_reference(history, b_key)) if h}
    if len(found) == 1:
        reference = next(iter(found.values()))["restored"]
        return reference["path"], f", against the reference {reference['label']}"
    if len(found) == 2:
        return None, ", without reference metrics (the two files have different references)"
    return uploaded, ""


def check_lengths(signals: dict[str, tuple[np.ndarray, int]]) -> None:
    """Refuse signals (``{label: (y, sr)}``) whose durations differ by more than :data:`MAX_LENGTH_GAP_S`
    or :data:`MAX_LENGTH_GAP` of the longer: they are not versions of one clip."""
    durations = {label: y.shape[-1] / sr for label, (y, sr) in signals.items()}
    shortest, longest = min(durations, key=durations.get), max(durations, key=durations.get)
    gap = durations[longest] - durations[shortest]
    if gap > max(MAX_LENGTH_GAP_S, MAX_LENGTH_GAP * durations[longest]):
        raise BadInputError(f"{shortest} lasts {durations[shortest]:.2f} s and {longest} {durations[longest]:.2f} s: "
                            f"only versions of one clip can be compared (durations within {MAX_LENGTH_GAP_S:g} s "
                            f"or {100 * MAX_LENGTH_GAP:g} %)")
