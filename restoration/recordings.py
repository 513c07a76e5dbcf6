"""Real recorded music from Debian packages, cut into 48 kHz clips with their own measured bandwidth.

``build_recordings`` fetches each package of :data:`PACKAGES` (``apt-get download`` + ``dpkg-deb -x``
into a cache folder, no root needed), decodes every track with ffmpeg at its own rate, resamples it
to 48 kHz with soxr and cuts 10 s clips. Tracks are split by a stable hash of ``package/track``: a
held-out track gives validation clips only (``real/``), never training clips (``train/``). Packages
marked ``unseen`` give evaluation clips only (``unseen/``): music no model was trained or selected on.

Many sources are lossy (Vorbis, Opus, MP3) or 44.1 kHz, so their spectrum stops at 16-22 kHz. Every
clip's own bandwidth (:func:`bandwidth_hz`) is stored in the manifest: training masks its loss above
it, so an encoder's low-pass is never taught as music, and validation only uses clips that reach
:data:`VALID_MIN_BANDWIDTH_HZ`. Only the vetted packages of :data:`PACKAGES` (license and content
checked) are ever fetched: :func:`check_allowed` refuses any other name wherever a package name enters,
so material kept aside for independent evaluation can never slip in.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import re
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import resample, save_audio
from .errors import RestorationError, last_line

SR = 48000
CLIP_S = 10.0
#: Held-out share of each package's tracks (at least one track when the package has two or more).
VALID_SHARE = 0.15
#: Validation clips per held-out track: more for packages with few tracks (each genre needs several).
VALID_CLIPS_PER_TRACK = {"few": 3, "many": 2}
#: Validation clips must reach this bandwidth: a dark reference would reward a dark restoration.
VALID_MIN_BANDWIDTH_HZ = 18000.0
#: Training clips below this bandwidth carry nothing above the degradation's cutoff: skipped.
TRAIN_MIN_BANDWIDTH_HZ = 14000.0
#: Tracks shorter than this (seconds) are sound effects, not music.
MIN_TRACK_S = 30.0
#: One training clip per this many seconds of track, at most ``MAX_TRAIN_CLIPS`` per track.
SECONDS_PER_CLIP = 40.0
MAX_TRAIN_CLIPS = 5
AUDIO_SUFFIXES = (".ogg", ".opus", ".mp3", ".flac", ".wav", ".xm", ".mod", ".it", ".s3m")
#: Frets on Fire stems mixed into their song.ogg, not tracks of their own.
STEMS = ("guitar.ogg", "rhythm.ogg", "preview.ogg")


@dataclass(frozen=True)
class Package:
    """A Debian package of recorded music: a coarse genre tag, its license and what it holds.

    ``unseen``: every track gives evaluation clips only (``unseen/``), none for training or for the
    validation that selects checkpoints: music added after the models were trained and selected.
    ``train_only``: every track gives training clips, none is held out, so the held-out set (``real/``)
    and every score measured on it stay comparable across the corpus versions.
    ``music_folder``: where a package keeps its music beside its sound effects (a glob relative to the
    unpacked root, e.g. ``usr/share/games/*/sounds/musics``): only the files right in it are tracks.
    ``exclude``: file-name globs that are not tracks of their own (e.g. a faster copy of a track, ``*_fast.ogg``).
    """

    genre: str
    license: str
    content: str
    unseen: bool = False
    train_only: bool = False
    music_folder: str = ""
    exclude: tuple[str, ...] = ()


#: From ``apt-cache show`` and ``/usr/share/doc/<package>/copyright``; see docs/data-licenses.md.
PACKAGES = {
    "fretsonfire-songs-muldjord": Package("rock", "CC-BY-SA-3.0", "guitar rock, Ogg Vorbis 44.1 kHz (song + guitar tracks)"),
    "fretsonfire-songs-sectoid": Package("rock", "MIT", "metal / rock, Ogg Vorbis 44.1 kHz (song + guitar tracks)"),
    "ufoai-music": Package("orchestral", "CC-BY-SA-3.0 / CC-BY-3.0 / GPL-2+", "orchestral and cinematic score, Ogg Vorbis"),
    "warzone2100-music": Package("electronic", "GPL-2+ / CC-BY-SA-3.0", "electronic / ambient score, Opus 48 kHz"),
    "hyperrogue-music": Package("electronic", "CC-BY-SA / GPL-2+ (see copyright)", "electronic / chiptune-styled soundtrack, Ogg Vorbis 44.1 kHz mono"),
    "singularity-music": Package("electronic", "CC-BY-SA-3.0", "tracker-produced electronic / ambient (Psycle, Renoise), Ogg Vorbis 48 kHz"),
    "drascula-music": Package("soundtrack", "Drascula-License (free redistribution)", "adventure game score, Ogg Vorbis 44.1 kHz"),
    "planetblupi-music-ogg": Package("soundtrack", "GPL-3+", "light game score, Ogg Vorbis 44.1 kHz"),
    "asc-music": Package("soundtrack", "GPL-2+", "strategy game score, MP3 22.05 kHz (too narrow: no clip passes)"),
    "fb-music-high": Package("tracker", "GPL-2+", "Frozen Bubble tracker module (XM), rendered by ffmpeg/libopenmpt"),
    "xmoto-data": Package("soundtrack", "GPL-2+", "X-Moto game score, Ogg Vorbis 44.1 kHz", unseen=True),
    "lincity-ng-data": Package("soundtrack", "GPL-2+", "LinCity-NG game score (ambient, blues), Ogg Vorbis 44.1 kHz",
                               unseen=True),
    "extremetuxracer-data": Package("soundtrack", "GPL-2+", "Extreme Tux Racer game score, Ogg Vorbis 44.1/48 kHz",
                                    unseen=True),
    # Added in corpus version 2 (2026-11-27): more training genres, and orchestral music among the unseen.
    "flare-game": Package("orchestral", "CC-BY-SA-3.0+", "Flare fantasy RPG score, Ogg Vorbis 44.1 kHz", train_only=True),
    "supertux-data": Package("soundtrack", "GPL-3+", "SuperTux game score (light orchestral, chiptune-styled, "
                             "ambient), Ogg Vorbis", train_only=True),
    "hedgewars-data": Package("soundtrack", "GPL-2", "Hedgewars themed game score (world, orchestral, rock), Ogg Vorbis",
                              train_only=True),
    "freedroidrpg-data": Package("electronic", "GPL-2+", "FreedroidRPG score (electronic, ambient), Ogg Vorbis",
                                 train_only=True),
    "starfighter-data": Package("electronic", "GPL-2+", "Project: Starfighter score (electronic, synth rock), Ogg Vorbis",
                                train_only=True),
    "megaglest-data": Package("orchestral", "CC-BY-SA-3.0", "MegaGlest faction and menu score (orchestral, world), "
                              "Ogg Vorbis", unseen=True),
    # Added 2026-11-27 (session 7): more unseen tracks, so a set's mean brightness depends less on a few of them.
    "warmux-data": Package("soundtrack", "GPL-2+", "WarMUX game themes (instrumental; Olivier Militon, Sebastien "
                           "Sabouret, Mike Errecart), Ogg Vorbis 44.1 kHz", unseen=True),
    **{f"{game}-data": Package("electronic", "BSD-2-Clause", f"{title} score by Kenta Cho (electronic), Ogg Vorbis "
                               f"44.1 kHz mono", unseen=True, music_folder=f"usr/share/games/{game}/sounds/musics")
       for game, title in (("gunroar", "Gunroar"), ("mu-cade", "Mu-cade"), ("titanion", "Titanion"),
                           ("torus-trooper", "Torus Trooper"))},
    # Added 2026-11-27 (session 9): 31 more unseen tracks in many styles; the genre of each is not documented.
    "supertuxkart-data": Package("soundtrack", "CC-BY-SA-3.0 / CC-BY-SA-4.0 / GPL-3+ (per file)",
                                 "SuperTuxKart racing game score (mixed styles, 16 composers), Ogg Vorbis",
                                 unseen=True, music_folder="usr/share/games/supertuxkart/data/music",
                                 exclude=("*_fast.ogg", "farm_f.ogg")),
}


class RecordingsError(RestorationError):
    """A package is not vetted or cannot be fetched, or a track cannot be decoded."""


@dataclass(frozen=True)
class Track:
    """One music file of ``package``; ``name`` is its path relative to the package root."""

    package: str
    name: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.package}/{self.name}"


def check_allowed(package: str) -> str:
    """``package`` unchanged, or :class:`RecordingsError` when it is not one of the vetted :data:`PACKAGES`."""
    if package not in PACKAGES:
        raise RecordingsError(f"{package} is not a vetted recording package (license and content unchecked, or kept "
                              f"aside for independent evaluation); vetted: {', '.join(PACKAGES)}")
    return package


def fetch(package: str, cache: Path, *, log: Callable[[str], None] = lambda s: None) -> Path:
    """Download and unpack ``package`` under ``cache`` (resumable); returns the unpacked root folder."""
    check_allowed(package)
    root = cache / "pkgs" / package
    if (root / ".unpacked").exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        log(f"apt-get download {package}")
        result = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if result.returncode or not found:
            raise RecordingsError(f"apt-get download {package} failed: {last_line(result.stderr)}")
    root.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(root)], capture_output=True, text=True)
    if result.returncode:
        raise RecordingsError(f"dpkg-deb -x {found[-1].name} failed: {last_line(result.stderr)}")
    for archive in root.rglob("*.pk3"):  # UFO:AI keeps its music in a zip archive
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if m.lower().endswith(AUDIO_SUFFIXES)]
            zf.extractall(archive.with_suffix(""), members)
    (root / ".unpacked").write_text("ok\n")
    return root


def list_tracks(package: str, root: Path) -> list[Track]:
    """The music files of an unpacked package, sorted: those in its ``music_folder`` where it names one,
    else every audio file outside the sound-effect (``sounds``) folders; never its ``exclude`` names."""
    vetted = PACKAGES.get(package, Package("", "", ""))
    folder = vetted.music_folder
    found = root.glob(f"{folder}/*") if folder else root.rglob("*")
    files = sorted(p for p in found if p.is_file() and not p.is_symlink() and p.suffix.lower() in AUDIO_SUFFIXES
                   and (folder or "sounds" not in p.relative_to(root).parts) and p.name not in STEMS
                   and not any(fnmatch.fnmatch(p.name, pattern) for pattern in vetted.exclude))
    unique = {p.resolve(): p for p in reversed(files)}  # rglob follows linked folders: one track, one entry
    return [Track(package, str(p.relative_to(root)), p) for p in sorted(unique.values())]


def split_tracks(tracks: list[Track]) -> dict[str, str]:
    """``{track key: "train" | "real" | "unseen"}``: per package, the tracks first in a stable hash order are
    held out (``real``); every track of an ``unseen`` package is ``unseen``, of a ``train_only`` one ``train``."""
    by_package: dict[str, list[Track]] = {}
    for track in tracks:
        by_package.setdefault(track.package, []).append(track)
    split = {}
    for package, items in by_package.items():
        if package in PACKAGES and PACKAGES[package].unseen:
            split.update((track.key, "unseen") for track in items)
            continue
        ordered = sorted(items, key=lambda t: hashlib.sha1(t.key.encode()).hexdigest())
        train_only = package in PACKAGES and PACKAGES[package].train_only
        held = 0 if len(ordered) < 2 or train_only else max(1, math.ceil(VALID_SHARE * len(ordered)))
        for i, track in enumerate(ordered):
            split[track.key] = "real" if i < held else "train"
    return split


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode any ffmpeg-readable file to float32 ``(2, samples)`` at its own rate (mono is duplicated)."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate",
                            "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    rate = probed_rate(probe.stdout)
    if rate is None:
        raise RecordingsError(f"cannot read the sample rate of {path.name}: {last_line(probe.stderr)}")
    result = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:a:0", "-ac", "2",
                             "-f", "f32le", "-"], capture_output=True)
    if result.returncode:
        raise RecordingsError(f"cannot decode {path.name}: {last_line(result.stderr.decode(errors='replace'))}")
    y = np.frombuffer(result.stdout, dtype=np.float32).reshape(-1, 2).T
    return np.ascontiguousarray(y), rate


def probed_rate(stdout: str) -> int | None:
    """The sample rate (Hz) in ffprobe's CSV answer, None when there is none. A stream with side data
    (some Vorbis files) answers ``44100,`` and an empty line, not ``44100``."""
    found = re.match(r"\s*(\d+)", stdout)
    return int(found.group(1)) if found else None


def bandwidth_hz(y: np.ndarray, sr: int, *, below_db: float = 75.0, smooth_hz: float = 400.0) -> float:
    """The highest frequency (Hz) where the clip still has content.

    The long-term spectrum of ``y`` (``(channels, samples)`` or ``(samples,)``; Welch, 4096-point) is
    smoothed over ``smooth_hz`` (running median, in dB); the bandwidth is the highest frequency where
    it is within ``below_db`` of the median level of 1-6 kHz. Lossy encoders' low-passes and a lower
    original rate fall far below that (empty, or a codec floor); real treble does not.
    """
    from scipy.ndimage import median_filter
    from scipy.signal import welch

    mono = np.asarray(y, dtype=np.float64).reshape(-1, np.shape(y)[-1]).mean(axis=0)
    freqs, psd = welch(mono, sr, nperseg=4096)
    db = median_filter(10.0 * np.log10(psd + 1e-30), size=max(1, int(smooth_hz / (freqs[1] - freqs[0]))) | 1,
                       mode="nearest")
    reference = float(np.median(db[(freqs >= 1000.0) & (freqs <= 6000.0)]))
    loud = np.flatnonzero(db >= reference - below_db)
    return float(freqs[loud[-1]]) if loud.size else 0.0


def clip_starts(samples: int, count: int, length: int) -> list[int]:
    """``count`` evenly spread start samples of ``length``-sample clips, skipping the first and last 8 %."""
    lo, hi = int(0.08 * samples), int(0.92 * samples) - length
    if hi < lo:
        return [max(0, (samples - length) // 2)] if samples >= length else []
    return [int(s) for s in np.linspace(lo, hi, count)] if count > 1 else [(lo + hi) // 2]


def build_recordings(out: Path, cache: Path, manifest: dict, *, packages: list[str] | None = None,
                     clip_s: float = CLIP_S, is_silent: Callable[[np.ndarray], bool],
                     fade: Callable[[np.ndarray], np.ndarray], save_manifest: Callable[[], None],
                     log: Callable[[str], None] = lambda s: None) -> None:
    """Cut every track of ``packages`` (default: all of :data:`PACKAGES`) into ``out/train`` or ``out/real``.

    Tracks already listed in ``manifest`` are skipped (resumable). Packages are interleaved track by
    track so the first clips already span the genres. Each entry records package, genre, license,
    track, start and ``bandwidth_hz``.
    """
    packages = [check_allowed(p) for p in (packages or list(PACKAGES))]
    per_package = [list_tracks(p, fetch(p, cache, log=log)) for p in packages]
    tracks = [t for group in _interleave(per_package) for t in group]
    split = split_tracks(tracks)
    for folder in ("train", "real", "unseen"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    sizes = {p: len(group) for p, group in zip(packages, per_package)}
    done = {e.get("track") for e in manifest.values() if "track" in e}
    length = int(round(clip_s * SR))
    for track in tracks:
        if track.key in done:
            continue
        guitar = track.path.with_name("guitar.ogg")
        try:
            y, rate = decode(track.path)
            if track.path.name == "song.ogg" and guitar.exists():  # Frets on Fire: backing + lead guitar stems
                g, _ = decode(guitar)
                n = min(y.shape[-1], g.shape[-1])
                y = y[:, :n] + g[:, :n]
        except RecordingsError as exc:
            log(f"skip {track.key}: {exc}")
            continue
        seconds = y.shape[-1] / rate
        if seconds < MIN_TRACK_S:
            _skip(manifest, track, f"{seconds:.1f} s long: a sound effect, not music")
            continue
        y = resample(y, rate, SR)
        part = split[track.key]
        if part != "train":
            count = VALID_CLIPS_PER_TRACK["few" if sizes[track.package] < 10 else "many"]
        else:
            count = max(1, min(MAX_TRAIN_CLIPS, int(seconds // SECONDS_PER_CLIP)))
        info = PACKAGES[track.package]
        kept = 0
        for k, start in enumerate(clip_starts(y.shape[-1], count, length)):
            clip = y[:, start:start + length]
            if clip.shape[-1] < length or is_silent(clip):
                continue
            width = bandwidth_hz(clip, SR)
            floor = TRAIN_MIN_BANDWIDTH_HZ if part == "train" else VALID_MIN_BANDWIDTH_HZ
            if width < floor:
                log(f"skip {track.key} clip {k}: bandwidth {width:.0f} Hz < {floor:.0f} Hz")
                continue
            clip = clip * np.float32(0.95 / max(0.95, float(np.max(np.abs(clip)))))  # mixed stems may clip
            name = f"{part}/{_slug(track.key)}_{k:02d}.flac"
            save_audio(out / name, fade(clip), SR, subtype="pcm24")  # no 16-bit floor in the empty band
            manifest[name] = {"file": name, "split": part, "kind": "recording", "source_package": track.package,
                              "genre": info.genre, "license": info.license, "track": track.key,
                              "start_s": round(start / SR, 3), "seconds": clip_s, "original_rate": rate,
                              "bandwidth_hz": round(width, 1)}
            kept += 1
        if not kept:
            _skip(manifest, track, "no clip passed the silence and bandwidth checks")
        log(f"{part}: {track.key} ({kept} clips)")
        save_manifest()


def _skip(manifest: dict, track: Track, reason: str) -> None:
    """Record a track that gave no clip (so a resumed build does not decode it again)."""
    key = f"skipped/{_slug(track.key)}"
    manifest[key] = {"file": key, "split": "skipped", "track": track.key, "reason": reason}


def _interleave(groups: list[list[Track]]) -> list[list[Track]]:
    """Round-robin rows of tracks, one from each package per row."""
    rows = max((len(g) for g in groups), default=0)
    return [[g[i] for g in groups if i < len(g)] for i in range(rows)]


def _slug(text: str) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")[-60:]
    return f"{stem}_{hashlib.sha1(text.encode()).hexdigest()[:6]}"
