"""Render the stimuli of a listening test up front and store the test.

For every clip, every chosen method (or chain) restores the clip; in MUSHRA a clip with a clean
reference adds the hidden reference and a 3.5 kHz low-pass anchor of it. A clip may also bring
files made anywhere (``song.audiosr.wav``...) as conditions of their own (:func:`outside_clips`);
the methods then restore the file of its *source* condition (``song.input.wav`` by default).
The versions of a clip are brought to one sample rate (the highest among them), one length and one
channel count, and loudness-matched to the same integrated loudness, then written as 24-bit FLAC
into the test's media folder, so a restarted app plays exactly what was rendered. Listeners never
get these files: :mod:`.serve` writes a dithered copy of each per listener and slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from scipy.signal import butter, sosfiltfilt

from ..audio import load_audio, probe_audio, resample, save_audio, to_channels
from ..conditions import Collection, check_disjoint
from ..errors import BadInputError
from ..pipeline import restore
from ..registry import parse_chain
from .protocol import ANCHOR, ANCHOR_HZ, REFERENCE, check_protocol, design_trials
from .storage import ListeningStore

Progress = Callable[[int, int], None] | None

#: Bundled example clips of the project.
ASSETS = Path(__file__).resolve().parents[2] / "assets"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
#: Default playback loudness, LUFS (EBU R128 programme level: music rarely clips there).
DEFAULT_LUFS = -23.0
#: Highest sample peak after loudness matching, dBFS; a clip whose versions would exceed it is
#: played quieter as a whole, so its versions stay equally loud.
PEAK_CEILING_DBFS = -1.0
DEFAULT_SECONDS = 10.0
#: Most trials one listener is asked to do.
MAX_TRIALS = 300
#: The condition whose file the registry methods restore in a clip of outside files (``song.input.wav``).
DEFAULT_SOURCE = "input"
#: The outside files of one clip may differ in length by this many seconds or this share of the
#: clip, whichever is more (restoration tools pad or trim a little); beyond that it is another clip.
LENGTH_TOLERANCE_S = 0.5
LENGTH_TOLERANCE_SHARE = 0.05
#: Shortest and longest outside file, seconds (each file is decoded whole before it is cut).
MIN_FILE_SECONDS = 0.25
MAX_FILE_SECONDS = 1200.0
#: Problems named in one error line before "and N more".
MAX_LISTED = 8
#: ``song_clean``, ``song_clean_reference``, ``song_ref`` ... name the reference of ``song``.
_REFERENCE_SUFFIX = re.compile(r"[._-](clean(?:[._-]ref(?:erence)?)?|ref(?:erence)?)$", re.IGNORECASE)


@dataclass(frozen=True)
class Clip:
    """A clip of a test: the audio the methods restore (None when only outside files are compared),
    optionally its clean reference, and outside files compared as conditions, ``((condition, path), ...)``."""

    name: str
    source: Path | None
    reference: Path | None = None
    files: tuple[tuple[str, Path], ...] = ()


def outside_clips(collection: Collection, *, source: str | None = None) -> list[Clip]:
    """The clips of a :class:`~restoration.conditions.Collection`: every file is a condition of its clip.

    With ``source`` (a condition name, e.g. :data:`DEFAULT_SOURCE`) that condition's file is also what
    registry methods restore; every clip must then have one. Raises :class:`BadInputError` otherwise.
    """
    collection.require_files()
    clips = []
    for name, files in collection.by_clip().items():
        reference = next((f.reference for f in files.values() if f.reference is not None), None)
        origin = files[source].path if source in files else None
        clips.append(Clip(name, origin, reference, tuple((c, f.path) for c, f in files.items())))
    if source is not None:
        lacking = [clip.name for clip in clips if clip.source is None]
        if lacking:
            raise BadInputError(f"the methods restore each clip's {source!r} file (<clip>.{source}.<ext>), which "
                                f"{_listed(lacking)} lack(s); add it or name another source condition")
    return clips


def pair_clips(sources: Sequence[str | Path], references: Sequence[str | Path] = ()) -> list[Clip]:
    """Clips from files; a reference belongs to the source of the same stem, or of its stem without
    a ``_clean``, ``_clean_reference``, ``_ref`` or ``_reference`` suffix (``song_clean.wav`` -> ``song.mp3``)."""
    clips = {}
    for source in map(Path, sources):
        name = _unique(source.stem, clips)
        clips[name] = Clip(name, source)
    stems = {clip.source.stem: name for name, clip in clips.items()}
    for reference in map(Path, references):
        stem = reference.stem if reference.stem in stems else _REFERENCE_SUFFIX.sub("", reference.stem)
        if stem not in stems:
            raise BadInputError(f"reference {reference.name} matches no clip; name it like its clip "
                                f"(clip.wav and clip.wav or clip_clean.wav)")
        name = stems[stem]
        if clips[name].reference is not None:
            raise BadInputError(f"clip {name} has two references")
        clips[name] = Clip(name, clips[name].source, reference)
    return list(clips.values())


def bundled_clips(folder: Path = ASSETS) -> list[Clip]:
    """The example clips in ``folder``; ``x_clean.wav`` (or ``x_clean_reference.flac``...) beside
    ``x.wav`` is the reference of ``x``."""
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    stems = {p.stem for p in files}
    references = [p for p in files if _REFERENCE_SUFFIX.search(p.stem) and _REFERENCE_SUFFIX.sub("", p.stem) in stems]
    return pair_clips([p for p in files if p not in references], references)


def lowpass_anchor(y: np.ndarray, sr: int, *, cutoff_hz: float = ANCHOR_HZ) -> np.ndarray:
    """The MUSHRA low-pass anchor: zero-phase 8th-order Butterworth low-pass of ``(..., samples)``."""
    sos = butter(8, min(cutoff_hz, 0.45 * sr), fs=sr, output="sos")
    return sosfiltfilt(sos, y, axis=-1).astype(np.float32)


def build_test(store: ListeningStore, *, name: str, protocol: str, clips: Sequence[Clip], methods: Sequence[str],
               params: dict[str, dict[str, Any]] | None = None, target_lufs: float = DEFAULT_LUFS,
               max_seconds: float = DEFAULT_SECONDS, practice: bool = False, progress: Progress = None) -> str:
    """Render every stimulus, store them with the trials and open the test; returns its id.

    ``methods`` are registry names or chains (``"spectral_gating+sbr"``); ``params`` maps a method
    to its parameters. Clips with outside files (:func:`outside_clips`) compare those files and the
    methods rendered from their source; every such clip must have the same conditions, and files
    that cannot be used (undecodable, too short or long, another length than the clip's other files)
    refuse the whole test with one line that lists them. Clips are cut to their first ``max_seconds``
    (0 keeps them whole). With ``practice`` every listener first gets one practice trial that is not counted.
    ``progress(done, total)`` counts rendered versions in thousandths. A failure removes the
    half-built test and its files.
    """
    check_protocol(protocol)
    methods = [str(m).strip() for m in methods if str(m).strip()]
    for method in methods:
        parse_chain(method)
    if len(set(methods)) != len(methods):
        raise BadInputError("a method is chosen twice")
    if not any(clip.files for clip in clips):
        if protocol != "mushra" and len(methods) < 2:
            raise BadInputError(f"an {'A/B' if protocol == 'ab' else 'ABX'} test needs at least two methods")
        if not methods:
            raise BadInputError("choose at least one method")
    if {REFERENCE, ANCHOR} & set(methods):
        raise BadInputError(f"{REFERENCE!r} and {ANCHOR!r} are reserved condition names")
    check_outside_files(clips, methods, with_reference=protocol == "mushra")
    if not -60.0 <= float(target_lufs) <= -5.0:
        raise BadInputError(f"target loudness must lie within [-60, -5] LUFS, got {target_lufs}")
    if float(max_seconds) < 0:
        raise BadInputError(f"clip length must be positive (0 = whole clip), got {max_seconds}")
    conditions = {clip.name: [c for c, _ in clip.files] + methods
                  + ([REFERENCE, ANCHOR] if protocol == "mushra" and clip.reference else []) for clip in clips}
    specs = design_trials(protocol, list(conditions.items()))
    if len(specs) > MAX_TRIALS:
        raise BadInputError(f"this test would have {len(specs)} trials per listener (at most {MAX_TRIALS}); "
                            "choose fewer clips or methods")
    settings = {"methods": methods, "params": params or {}, "target_lufs": float(target_lufs),
                "max_seconds": float(max_seconds), "clips": [c.name for c in clips], "practice": bool(practice),
                "conditions": sorted({c for clip in clips for c, _ in clip.files})}
    test_id = store.create_test(name, protocol, settings)
    try:
        ids: dict[tuple[str, str], int] = {}
        steps = max(1, len(methods))  # progress steps per clip
        for index, clip in enumerate(clips):
            stage = None if progress is None else _offset(progress, index * steps, len(clips) * steps)
            versions, rate = render_clip(clip, methods, params=params, max_seconds=float(max_seconds),
                                         with_reference=protocol == "mushra", progress=stage)
            for k, (condition, (y, lufs, gain)) in enumerate(level_match(versions, rate, float(target_lufs)).items()):
                path = save_audio(store.media_dir(test_id) / f"c{index:02d}v{k:02d}.flac", y, rate,
                                  subtype="pcm24")
                ids[clip.name, condition] = store.add_stimulus(test_id, clip.name, condition, path, rate,
                                                               loudness_lufs=lufs, gain_db=gain)
        store.add_trials(test_id, [(s.clip, [ids[s.clip, c] for c in s.conditions], ids.get((s.clip, REFERENCE)))
                                   for s in specs])
        store.set_status(test_id, "ready")
    except BaseException:
        store.delete_test(test_id)
        raise
    if progress is not None:
        progress(1000, 1000)
    return test_id


def render_clip(clip: Clip, methods: Sequence[str], *, params: dict[str, dict[str, Any]] | None = None,
                max_seconds: float = DEFAULT_SECONDS, with_reference: bool = False,
                progress: Progress = None) -> tuple[dict[str, np.ndarray], int]:
    """Every version of one clip at a common rate, length and channel count.

    Returns ``({condition: float32 (channels, samples)}, rate)``: the clip's outside files, the
    methods' outputs and, with ``with_reference`` and a clip reference, ``reference`` and ``anchor``.
    The rate is the highest among the versions.
    """
    versions: dict[str, tuple[np.ndarray, int]] = {c: _load(path, max_seconds) for c, path in clip.files}
    if methods:
        if clip.source is None:
            raise BadInputError(f"clip {clip.name} has no source file to render the methods from")
        y, sr = _load(clip.source, max_seconds)
    for k, method in enumerate(methods):
        stage = None if progress is None else _offset(progress, k, len(methods))
        versions[method] = restore(y, sr, method, (params or {}).get(method), progress=stage)
    if with_reference and clip.reference is not None:
        ref, ref_sr = _load(clip.reference, max_seconds)
        versions[REFERENCE] = (ref, ref_sr)
        versions[ANCHOR] = (lowpass_anchor(ref, ref_sr), ref_sr)
    rate = max(r for _, r in versions.values())
    channels = max(v.shape[0] for v, _ in versions.values())
    aligned = {c: to_channels(resample(v, r, rate), channels) for c, (v, r) in versions.items()}
    length = min(v.shape[-1] for v in aligned.values())
    return {c: np.ascontiguousarray(v[..., :length]) for c, v in aligned.items()}, rate


def check_outside_files(clips: Sequence[Clip], methods: Sequence[str], *, with_reference: bool = False) -> None:
    """Refuse, in one line that lists every problem, outside files that a test cannot use.

    Their condition names must be free (not ``reference``, ``anchor`` or one of ``methods``), every
    clip with outside files must have the same conditions, and each file (and, ``with_reference``,
    each reference) must be decodable audio of :data:`MIN_FILE_SECONDS` to :data:`MAX_FILE_SECONDS`
    whose length is within :data:`LENGTH_TOLERANCE_S` (or :data:`LENGTH_TOLERANCE_SHARE`) of its clip's
    median file. Only headers are read.
    """
    outside = [clip for clip in clips if clip.files]
    if not outside:
        return
    names = sorted({c for clip in outside for c, _ in clip.files})
    reserved = sorted({REFERENCE, ANCHOR} & set(names))
    if reserved:
        raise BadInputError(f"{' and '.join(reserved)} cannot be a condition of your files (a reserved name); "
                            f"a clean reference is named <clip>.{REFERENCE}.<ext>")
    check_disjoint(names, methods)
    lacking = [clip.name for clip in outside if methods and clip.source is None]
    if lacking:
        raise BadInputError(f"the methods need a source file to restore, which clip(s) {_listed(lacking)} lack")
    problems = [f"clip {clip.name} lacks {', '.join(sorted(set(names) - {c for c, _ in clip.files}))}"
                for clip in outside if len(clip.files) < len(names)]
    for clip in outside:
        paths = [path for _, path in clip.files] + ([clip.reference] if with_reference and clip.reference else [])
        durations = {}
        for path in paths:
            try:
                info = probe_audio(path)
            except BadInputError as exc:
                problems.append(str(exc))
                continue
            seconds = durations[path] = info.frames / info.samplerate
            if not MIN_FILE_SECONDS <= seconds <= MAX_FILE_SECONDS:
                problems.append(f"{path.name} is {seconds:.2f} s long (from {MIN_FILE_SECONDS:g} to "
                                f"{MAX_FILE_SECONDS:g} s)")
                del durations[path]
        if durations:
            median = float(np.median(list(durations.values())))
            tolerance = max(LENGTH_TOLERANCE_S, LENGTH_TOLERANCE_SHARE * median)
            problems += [f"{path.name} is {seconds:.2f} s long, the files of clip {clip.name} {median:.2f} s "
                         f"(another clip?)" for path, seconds in durations.items() if abs(seconds - median) > tolerance]
    if problems:
        raise BadInputError(f"cannot make a test of these files: {_listed(problems, sep='; ')}")


def level_match(versions: dict[str, np.ndarray], sr: int, target_lufs: float) -> dict[str, tuple[np.ndarray, float, float]]:
    """Bring every version to one integrated loudness: ``{condition: (signal, LUFS, gain dB)}``.

    The loudness is ``target_lufs``, or lower for all versions alike when the loudest peak would
    otherwise pass :data:`PEAK_CEILING_DBFS`.
    """
    from ..analysis.loudness import integrated_loudness, match_loudness

    target = float(target_lufs)
    for condition, y in versions.items():
        loudness = integrated_loudness(y, sr)
        if not np.isfinite(loudness):
            raise BadInputError(f"version {condition!r} is silent; it cannot be loudness-matched")
        peak_db = 20.0 * np.log10(float(np.max(np.abs(y))))
        target = min(target, PEAK_CEILING_DBFS - peak_db + loudness)
    out = {}
    for condition, y in versions.items():
        scaled, gain = match_loudness(y, sr, target, ceiling_dbfs=PEAK_CEILING_DBFS + 0.01)
        out[condition] = (scaled, target, gain)
    return out


def _listed(items: Sequence[str], *, sep: str = ", ") -> str:
    """The first :data:`MAX_LISTED` items joined, and how many more there are."""
    more = len(items) - MAX_LISTED
    return sep.join(items[:MAX_LISTED]) + (f"{sep}and {more} more" if more > 0 else "")


def _unique(name: str, taken) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when it is taken."""
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name} ({k})"
    return candidate


def _load(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    y, sr = load_audio(path)
    if max_seconds > 0:
        y = y[..., : int(round(max_seconds * sr))]
    return y, sr


def _offset(progress: Callable[[int, int], None], done: int, total: int) -> Callable[[int, int], None]:
    """Map the progress of step ``done`` of ``total`` onto the whole, in thousandths."""

    def report(step_done: int, step_total: int) -> None:
        fraction = (done + (step_done / step_total if step_total else 1.0)) / total
        progress(min(999, int(round(999 * fraction))), 1000)

    return report
