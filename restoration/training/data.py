"""Paired training examples for the U-Net: clean 48 kHz music and its degraded, re-resampled twin.

The degradation chain (``restoration.degrade``, through ffmpeg) is slow per call, so each corpus
clip is degraded once per seed and the pair is cached under ``data/`` (float32 ``.npy``: float16
would add a rounding-noise floor at about -66 dB to the empty band, which the model learns to
read, and which real 32 kHz input never has). Batches
are random aligned crops of the pairs, with on-the-fly augmentation: a random gain, a random channel
or the mid signal, an extra low-pass of the input at a random cutoff (MusicGen rolls off from ~10 kHz),
and a fraction of clean full-band inputs whose target is the input itself ("do no harm"). Every
pair carries the clean clip's own bandwidth (:func:`restoration.recordings.bandwidth_hz`): the loss
is masked above it, so a lossy source's low-pass is never learned as the sound of music. (Version 1
also drew a "source roll-off" on both sides; it taught the model dark targets and is gone.)
Everything is seeded. Numpy only; the training loop converts to torch.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ..audio import load_audio, resample
from ..errors import BadInputError
from ..recordings import VALID_MIN_BANDWIDTH_HZ, bandwidth_hz

SR = 48000
DEGRADED_SR = 32000
#: An encoder's low-pass starts to bite this far (Hz) below the bandwidth it finally reaches: the
#: loss stops there, so the transition band is not learned as music either.
LOWPASS_TRANSITION_HZ = 1000.0
#: A clean input whose own bandwidth reaches this (Hz) is a "do no harm" example over the whole band:
#: its target is itself, so the loss also sees (and forbids) anything added above its edge. The
#: same floor as the validation clips, whose clean versions measure "do no harm".
WIDE_HZ = VALID_MIN_BANDWIDTH_HZ
#: Crops of the clean clip quieter than this RMS (-70 dBFS) are drawn again.
SILENCE_RMS = 10 ** (-70 / 20)


@dataclass(frozen=True)
class Pair:
    """A clean clip and its degraded version, float32 ``(channels, samples)`` at 48 kHz, aligned;
    ``bandwidth`` (Hz) is the clean clip's own, above which it has no content to learn from."""

    name: str
    clean: np.ndarray
    degraded: np.ndarray
    bandwidth: float = SR / 2


def clip_files(root: str | os.PathLike, split: str) -> list[Path]:
    """Sorted ``root/split/*.flac`` (and ``*.wav``), hidden (partly written) files left out;
    :class:`BadInputError` when there are none."""
    folder = Path(root) / split
    files = sorted(f for f in [*folder.glob("*.flac"), *folder.glob("*.wav")] if not f.name.startswith("."))
    if not files:
        raise BadInputError(f"no audio clips in {folder}")
    return files


def make_pair(path: str | os.PathLike, *, seed: int, degrade: Callable | None = None, config=None) -> Pair:
    """Load ``path`` at 48 kHz, degrade it with ``seed`` to 32 kHz and resample that back to 48 kHz.

    ``degrade(y, sr, *, seed, config) -> (channels, n32)`` defaults to :func:`restoration.degrade.degrade`;
    ``config`` is its :class:`~restoration.degrade.DegradeConfig` (None: the default ranges).
    """
    if degrade is None:
        from ..degrade import degrade
    clean, _ = load_audio(path, sr=SR)
    low = resample(degrade(clean, SR, seed=seed, config=config), DEGRADED_SR, SR)
    n = min(clean.shape[-1], low.shape[-1])
    return Pair(f"{Path(path).stem}@{seed}", clean[..., :n], low[..., :n], bandwidth_hz(clean, SR))


def cached_pairs(files: Sequence[Path], *, seeds: Sequence[int], cache: str | os.PathLike,
                 degrade: Callable | None = None, config=None, bandwidths: dict[str, float] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[Pair]:
    """:func:`make_pair` for every file and seed, stored in ``cache`` keyed by file, size, mtime, seed and config.

    ``bandwidths`` (``{file name: Hz}``, from the corpus manifest) gives each clip's bandwidth as
    measured on the decoded float source; only files missing from it are measured here. Measuring
    the stored 16-bit FLAC instead would read its quantization floor (about -100 dB, white) as
    content up to 24 kHz.
    """
    bandwidths = bandwidths or {}
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(f, s) for f in files for s in seeds]
    pairs = []
    for i, (path, seed) in enumerate(jobs):
        target = pair_path(path, seed=seed, cache=cache, config=config)
        if target.exists():
            both = np.load(target)
        else:
            pair = make_pair(path, seed=seed, degrade=degrade, config=config)
            both = np.stack([pair.clean, pair.degraded]).astype(np.float32)
            tmp = target.with_suffix(f".{os.getpid()}.tmp.npy")  # jobs sharing a cache never share a partial file
            np.save(tmp, both)
            os.replace(tmp, target)
        width = bandwidths.get(Path(path).name) or bandwidth_hz(both[0], SR)
        pairs.append(Pair(f"{Path(path).stem}@{seed}", both[0], both[1], float(width)))
        if progress is not None:
            progress(i + 1, len(jobs))
    return pairs


def pair_path(path: str | os.PathLike, *, seed: int, cache: str | os.PathLike, config=None) -> Path:
    """Where :func:`cached_pairs` keeps the pair of ``path`` and ``seed``: keyed by file, size, mtime, seed and config."""
    stat = Path(path).stat()
    key = hashlib.sha1(f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{seed}|{config!r}".encode()).hexdigest()[:16]
    return Path(cache) / f"{Path(path).stem}.{seed}.{key}.f32.npy"


def take_files(files: Sequence[Path], *, limit: int, ready: Callable[[Path], bool]) -> list[Path]:
    """The files whose pairs are ``ready`` (cached) plus at most ``limit`` others (0: no limit), taken
    in a stable shuffled order so that a partial set spreads over the corpus, not one package."""
    ordered = sorted(files, key=lambda f: hashlib.sha1(f.name.encode()).hexdigest())
    if limit <= 0:
        return ordered
    fresh = [f for f in ordered if not ready(f)][:limit]
    return [f for f in ordered if ready(f) or f in fresh]


def smooth_lowpass(y: np.ndarray, sr: int, *, cutoff_hz: float, slope_db_per_khz: float) -> np.ndarray:
    """Zero-phase FFT low-pass of ``(..., samples)``: 0 dB below ``cutoff_hz``, then ``slope`` dB/kHz down to -120 dB."""
    spec = np.fft.rfft(y, axis=-1)
    hz = np.fft.rfftfreq(y.shape[-1], 1.0 / sr)
    gain_db = np.maximum(-slope_db_per_khz * np.maximum(hz - cutoff_hz, 0.0) / 1000.0, -120.0)
    return np.fft.irfft(spec * 10.0 ** (gain_db / 20.0), n=y.shape[-1], axis=-1).astype(np.float32)


@dataclass
class Augment:
    """Probabilities and ranges of the batch augmentation (see the module docstring)."""

    clean_fraction: float = 0.12
    lowpass_fraction: float = 0.45
    lowpass_hz: tuple[float, float] = (9000.0, 15500.0)
    slope_db_per_khz: tuple[float, float] = (15.0, 80.0)
    gain_db: tuple[float, float] = (-18.0, 4.0)
    mid_fraction: float = 0.25


class Batches:
    """Endless random batches ``(inputs, targets, bandwidths)``: float32 ``(batch_size, segment)`` at
    48 kHz twice, and the targets' own bandwidths, float32 ``(batch_size,)`` Hz."""

    def __init__(self, pairs: Sequence[Pair], *, segment: int, batch_size: int, seed: int = 0,
                 augment: Augment | None = None) -> None:
        pairs = [p for p in pairs if p.clean.shape[-1] > segment]
        if not pairs:
            raise BadInputError(f"no training pair is longer than the segment ({segment} samples)")
        self.pairs, self.segment, self.batch_size = pairs, segment, batch_size
        self.augment = augment or Augment()
        self.rng = np.random.default_rng(seed)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self

    def __next__(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        examples = [self.example() for _ in range(self.batch_size)]
        return (np.stack([e[0] for e in examples]), np.stack([e[1] for e in examples]),
                np.array([e[2] for e in examples], dtype=np.float32))

    def example(self) -> tuple[np.ndarray, np.ndarray, float]:
        """One augmented ``(input, target, bandwidth)``: crops float32 ``(segment,)`` and the band (Hz) the
        loss may use, the target's bandwidth less :data:`LOWPASS_TRANSITION_HZ` (the whole band for a clean
        input of at least :data:`WIDE_HZ`); near-silent crops are redrawn."""
        rng, aug = self.rng, self.augment
        for _ in range(20):
            pair = self.pairs[rng.integers(len(self.pairs))]
            start = rng.integers(pair.clean.shape[-1] - self.segment)
            crop = slice(start, start + self.segment)
            clean, low = pair.clean[:, crop], pair.degraded[:, crop]
            if np.sqrt(np.mean(np.square(clean))) > SILENCE_RMS:
                break
        if rng.random() < aug.mid_fraction or clean.shape[0] == 1:
            clean, low = clean.mean(axis=0), low.mean(axis=0)
        else:
            channel = rng.integers(clean.shape[0])
            clean, low = clean[channel], low[channel]
        roll = rng.random()
        usable = pair.bandwidth - LOWPASS_TRANSITION_HZ if pair.bandwidth < SR / 2 else pair.bandwidth
        if roll < aug.clean_fraction:
            low = clean
            if pair.bandwidth >= WIDE_HZ:  # a wide clip as its own target: nothing may be added above its edge
                usable = SR / 2
        elif roll < aug.clean_fraction + aug.lowpass_fraction:
            low = smooth_lowpass(low, SR, cutoff_hz=rng.uniform(*aug.lowpass_hz),
                                 slope_db_per_khz=rng.uniform(*aug.slope_db_per_khz))
        gain = np.float32(10.0 ** (rng.uniform(*aug.gain_db) / 20.0))
        return (low * gain).astype(np.float32), (clean * gain).astype(np.float32), float(usable)
