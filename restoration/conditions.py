"""Files made anywhere as conditions of an evaluation: which clip, which system, which reference.

Two ways to say it:

* the naming convention, ``<clip>.<condition>.<ext>`` (``song.audiosr.wav``, ``song.apollo.flac``) with
  ``<clip>.reference.<ext>`` beside them, or ``<clip>.<ext>`` in a separate reference folder, as the clean
  reference;
* a CSV manifest with the columns ``clip,condition,path`` and optionally ``reference`` (paths relative to
  the manifest's folder), for files that do not follow the convention.

Nothing here decodes audio: the consumers (``restoration score``, listening tests, the Studio) load the
files and report what cannot be read. What cannot be understood from names alone (a file without a
condition, a duplicate, a reference that is missing) is a :class:`Skipped` entry with one reason.
"""

from __future__ import annotations

import csv
import os
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

from .errors import BadInputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
REFERENCE = "reference"
#: Clip and condition names: letters, digits, ``_``, ``-`` (a clip may also hold spaces and dots), 1-64 chars.
CONDITION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CLIP_NAME = re.compile(r"^[\w .-]{1,128}$")
MANIFEST_COLUMNS = ("clip", "condition", "path")
#: Zip archives: most members and most bytes once extracted (a guard against zip bombs).
ZIP_MAX_MEMBERS = 500
ZIP_MAX_BYTES = 2 * 1024**3


class ArchiveTooLargeError(BadInputError):
    """A zip archive extracts to more bytes than allowed."""


@dataclass(frozen=True)
class ConditionFile:
    """One file to evaluate: ``clip`` restored (or made) by ``condition``; ``reference`` is the clean clip."""

    clip: str
    condition: str
    path: Path
    reference: Path | None = None


@dataclass(frozen=True)
class Skipped:
    """Something that cannot be used, and why (one line)."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Collection:
    """The usable files of a folder or manifest, in clip then condition order, and what was skipped."""

    files: list[ConditionFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def clips(self) -> list[str]:
        return sorted({f.clip for f in self.files})

    def conditions(self) -> list[str]:
        return sorted({f.condition for f in self.files})

    def by_clip(self) -> dict[str, dict[str, ConditionFile]]:
        """``{clip: {condition: file}}``."""
        table: dict[str, dict[str, ConditionFile]] = {}
        for item in self.files:
            table.setdefault(item.clip, {})[item.condition] = item
        return table

    def references(self) -> dict[str, Path]:
        """``{clip: reference path}`` for the clips that have one."""
        return {f.clip: f.reference for f in self.files if f.reference is not None}

    def require_files(self) -> None:
        """Raise :class:`BadInputError` naming the first problem when nothing is usable."""
        if not self.files:
            first = f" ({self.skipped[0]})" if self.skipped else ""
            raise BadInputError(f"no usable files: name them <clip>.<condition>.<ext> or list them in a CSV "
                                f"manifest (clip,condition,path[,reference]){first}")


def split_name(name: str) -> tuple[str, str] | None:
    """``"song.audiosr.wav"`` -> ``("song", "audiosr")``; None when the name has no condition part."""
    stem = Path(name).stem
    clip, dot, condition = stem.rpartition(".")
    if not dot or not clip or not condition:
        return None
    return clip, condition


def from_paths(paths: Iterable[str | os.PathLike], *, reference_dir: str | os.PathLike | None = None) -> Collection:
    """Files named by the convention (any folders): conditions, their clips and references."""
    found = Collection()
    entries: dict[tuple[str, str], Path] = {}
    references: dict[str, Path] = {}
    for path in sorted(map(Path, paths), key=lambda p: p.name):
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            found.skipped.append(Skipped(path.name, f"not an audio file ({', '.join(AUDIO_SUFFIXES)})"))
            continue
        parts = split_name(path.name)
        if parts is None:
            found.skipped.append(Skipped(path.name, "no condition in the name: use <clip>.<condition>"
                                                    f"{path.suffix.lower()} (or a manifest)"))
            continue
        clip, condition = parts
        problem = name_problem(clip, condition)
        if problem:
            found.skipped.append(Skipped(path.name, problem))
            continue
        if condition.lower() == REFERENCE:
            if clip in references:
                found.skipped.append(Skipped(path.name, f"a second reference of clip {clip}"))
            else:
                references[clip] = path
            continue
        if (clip, condition) in entries:
            found.skipped.append(Skipped(path.name, f"a second file of clip {clip}, condition {condition}"))
            continue
        entries[(clip, condition)] = path
    if reference_dir is not None:
        references.update(_reference_folder(reference_dir, {clip for clip, _ in entries}, references, found))
    for (clip, condition), path in sorted(entries.items()):
        found.files.append(ConditionFile(clip, condition, path, references.get(clip)))
    for clip in sorted(set(references) - {clip for clip, _ in entries}):
        found.skipped.append(Skipped(references[clip].name, f"a reference of clip {clip}, which has no condition"))
    return found


def scan_folder(folder: str | os.PathLike, *, reference_dir: str | os.PathLike | None = None) -> Collection:
    """The audio files directly in ``folder``, named ``<clip>.<condition>.<ext>``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"not a folder: {folder.name or folder}")
    paths = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return from_paths(paths, reference_dir=reference_dir)


def read_manifest(manifest: str | os.PathLike) -> Collection:
    """A CSV manifest ``clip,condition,path[,reference]``; relative paths are relative to its folder."""
    manifest = Path(manifest)
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            header = [h.strip().lower() for h in (rows[0].keys() if rows else [])]
    except FileNotFoundError:
        raise BadInputError(f"no such manifest: {manifest.name}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadInputError(f"cannot read manifest {manifest.name}: {exc}") from None
    if not rows:
        raise BadInputError(f"manifest {manifest.name} has no rows (columns: clip,condition,path[,reference])")
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise BadInputError(f"manifest {manifest.name} lacks the column(s) {', '.join(missing)} "
                            f"(columns: clip,condition,path[,reference])")
    base = manifest.parent
    found = Collection()
    seen: set[tuple[str, str]] = set()
    for number, raw in enumerate(rows, start=2):  # line 1 is the header
        row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        where = f"{manifest.name} line {number}"
        clip, condition, path_text = row.get("clip", ""), row.get("condition", ""), row.get("path", "")
        problem = name_problem(clip, condition) or (None if path_text else "no path")
        if problem:
            found.skipped.append(Skipped(where, problem))
            continue
        path = _resolve(base, path_text)
        reference = _resolve(base, row["reference"]) if row.get("reference") else None
        problem = (_file_problem(path) or (reference and _file_problem(reference, "reference"))
                   or ("a second row for this clip and condition" if (clip, condition) in seen else None))
        if problem:
            found.skipped.append(Skipped(where, problem))
            continue
        seen.add((clip, condition))
        found.files.append(ConditionFile(clip, condition, path, reference))
    found.files.sort(key=lambda f: (f.clip, f.condition))
    return found


def collect(source: str | os.PathLike, *, reference_dir: str | os.PathLike | None = None) -> Collection:
    """A folder (the naming convention) or a ``.csv`` manifest; ``reference_dir`` gives the references
    of the files that have none (``<clip>.<ext>`` or ``<clip>.reference.<ext>`` in it)."""
    source = Path(source)
    if source.suffix.lower() == ".csv" and not source.is_dir():
        found = read_manifest(source)
        return found if reference_dir is None else with_reference_folder(found, reference_dir)
    return scan_folder(source, reference_dir=reference_dir)


def with_reference_folder(found: Collection, folder: str | os.PathLike) -> Collection:
    """``found`` with ``folder``'s clean clips as the reference of every file that has none."""
    lacking = {f.clip for f in found.files if f.reference is None}
    references = _reference_folder(folder, lacking, {}, found)
    found.files = [f if f.reference is not None else replace(f, reference=references.get(f.clip))
                   for f in found.files]
    return found


def name_problem(clip: str, condition: str) -> str | None:
    """Why ``clip``/``condition`` cannot be used as names, or None."""
    if not CLIP_NAME.match(clip or ""):
        return f"bad clip name {clip!r} (letters, digits, space, '.', '_' or '-'; at most 128)"
    if not CONDITION_NAME.match(condition or ""):
        return f"bad condition name {condition!r} (letters, digits, '_' or '-'; at most 64)"
    return None


def extract_zip(archive: str | os.PathLike, folder: str | os.PathLike, *, max_members: int = ZIP_MAX_MEMBERS,
                max_bytes: int = ZIP_MAX_BYTES) -> list[Path]:
    """Extract the audio files of a zip into ``folder``, flat (base names only: no path from the archive
    is ever followed), refusing archives of more than ``max_members`` files or ``max_bytes`` extracted."""
    archive, folder = Path(archive), Path(folder)
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist()
                       if not m.is_dir() and Path(m.filename).suffix.lower() in AUDIO_SUFFIXES
                       and not Path(m.filename).name.startswith(".")]
            if len(members) > max_members:
                raise BadInputError(f"{archive.name} holds {len(members)} audio files; at most {max_members}")
            if sum(m.file_size for m in members) > max_bytes:
                raise ArchiveTooLargeError(f"{archive.name} extracts to more than {max_bytes // 1024**2} MB")
            folder.mkdir(parents=True, exist_ok=True)
            written: list[Path] = []
            budget = max_bytes
            for member in members:
                target = folder / Path(member.filename.replace("\\", "/")).name
                if target in written:
                    raise BadInputError(f"{archive.name} holds two files named {target.name}")
                with zipped.open(member) as source, open(target, "wb") as out:
                    while chunk := source.read(1 << 20):
                        budget -= len(chunk)
                        if budget < 0:  # the headers lied about the sizes
                            raise ArchiveTooLargeError(
                                f"{archive.name} extracts to more than {max_bytes // 1024**2} MB")
                        out.write(chunk)
                written.append(target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError):
        raise BadInputError(f"cannot read {archive.name}: not a readable zip archive") from None
    return written


def from_uploads(paths: Iterable[str | os.PathLike], folder: str | os.PathLike, *, max_files: int = ZIP_MAX_MEMBERS,
                 max_bytes: int = ZIP_MAX_BYTES) -> Collection:
    """Files and zips of files (uploads to the app) named by the convention: each ``.zip`` is extracted,
    flat, into its own sub-folder of ``folder``; refuses more than ``max_files`` audio files or
    ``max_bytes`` in all (files as given plus what the zips extract to)."""
    files: list[Path] = []
    budget = max_bytes
    for index, path in enumerate(map(Path, paths)):
        too_large = BadInputError(f"the files come to more than {max_bytes // 1024**2} MB in all")
        try:
            extracted = (extract_zip(path, Path(folder) / f"zip{index}", max_members=max_files, max_bytes=budget)
                         if path.suffix.lower() == ".zip" else [path])
        except ArchiveTooLargeError:
            raise too_large from None
        files += extracted
        budget -= sum(p.stat().st_size for p in extracted)
        if budget < 0:
            raise too_large
        if sum(p.suffix.lower() in AUDIO_SUFFIXES for p in files) > max_files:
            raise BadInputError(f"more than {max_files} audio files in all")
    return from_paths(files)


def _reference_folder(folder: str | os.PathLike, clips: set[str], known: dict[str, Path],
                      found: Collection) -> dict[str, Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"reference folder not found: {folder.name or folder}")
    references: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        clip = path.stem
        if split_name(path.name) and split_name(path.name)[1].lower() == REFERENCE:
            clip = split_name(path.name)[0]
        if clip not in clips:
            continue
        if clip in references or clip in known:
            found.skipped.append(Skipped(path.name, f"a second reference of clip {clip}"))
            continue
        references[clip] = path
    return references


def _resolve(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _file_problem(path: Path, what: str = "file") -> str | None:
    if not path.is_file():
        return f"{what} not found: {path.name}"
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        return f"{what} {path.name} is not an audio file ({', '.join(AUDIO_SUFFIXES)})"
    return None


def describe(collection: Collection) -> str:
    """One line: how many clips, conditions and references, and how many files were skipped."""
    refs = len(collection.references())
    text = (f"{len(collection.clips())} clip(s) × {len(collection.conditions())} condition(s) "
            f"({', '.join(collection.conditions()) or 'none'}), {refs} with a reference")
    return text + (f"; {len(collection.skipped)} skipped" if collection.skipped else "")


def check_disjoint(conditions: Sequence[str], methods: Sequence[str]) -> None:
    """Refuse outside condition names that are also registry methods or chains used in the same test."""
    clash = sorted(set(conditions) & set(methods))
    if clash:
        raise BadInputError(f"condition name(s) {', '.join(clash)} are also methods of this test; rename the files")
