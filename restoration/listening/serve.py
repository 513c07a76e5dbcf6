"""Serving stimuli to a listener: copies that tell nothing but their sound.

A blind test sends the listener several files per trial (A, B and X; the rows of a MUSHRA screen
and its open reference; the two sides of an arena duel). Whatever does not take decoding and
comparing the samples must not tell them apart, so :func:`serve_copies` writes the files of one
trial as

* PCM WAV, 24-bit, with the same 44-byte header: one rate, one channel count and one length for
  every file of the set (shorter sources are padded with silence), so every file has the same size
  in bytes and no per-content metadata (no MD5, tags, comments or chunks that vary);
* each with its own TPDF dither at the 24-bit LSB (a generator seeded from :mod:`secrets` per
  copy), so no two copies are bit-identical, while the difference from the stimulus is -144.5 dBFS
  RMS (half a 24-bit step) and the loudness is unchanged (see docs/listening.md, "Serving");
* under random names (:func:`secrets.token_urlsafe`), all with one modification time, so
  ``Last-Modified`` and ``ETag`` are alike too.

:func:`serve_copy` writes one such copy; the listening session and the arena call
:func:`serve_copies` for the set of one trial.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from ..errors import BadInputError

#: What every served copy is: suffix, libsndfile format and subtype, and the MIME type to announce.
SERVED_SUFFIX = ".wav"
SERVED_FORMAT, SERVED_SUBTYPE = "WAV", "PCM_24"
SERVED_MIME_TYPE = "audio/wav"
#: One step of the served 24-bit samples, as a fraction of full scale.
LSB_24 = 2.0 ** -23
_FULL_SCALE_24 = 2 ** 23


def fresh_rng() -> np.random.Generator:
    """A generator seeded with 128 bits from :mod:`secrets` (nobody can predict or repeat its dither)."""
    return np.random.default_rng(secrets.randbits(128))


def dither_to_pcm24(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Quantize ``y`` (float, any shape, full scale 1.0) to 24-bit integers with TPDF dither.

    The dither is triangular over ``(-1, 1)`` LSB (the sum of two independent uniform draws), added
    before rounding; the result is clipped to ``[-2**23, 2**23 - 1]`` and returned as int32 holding
    the 24-bit values. On a signal that is already on the 24-bit grid (16- or 24-bit sources) each
    sample moves by -1, 0 or +1 LSB with probabilities 1/8, 3/4, 1/8; for any source the error
    has an RMS of half an LSB (-144.5 dBFS) and no correlation with the signal.
    """
    scaled = np.asarray(y, dtype=np.float64) * _FULL_SCALE_24
    noise = rng.random(scaled.shape) - rng.random(scaled.shape)
    return np.clip(np.rint(scaled + noise), -_FULL_SCALE_24, _FULL_SCALE_24 - 1).astype(np.int32)


def serve_copy(source: str | os.PathLike, target: str | os.PathLike, rng: np.random.Generator | None = None, *,
               frames: int | None = None, channels: int | None = None) -> Path:
    """Write ``source`` (any file soundfile reads) to ``target`` as a dithered 24-bit PCM WAV.

    ``frames`` pads the copy with silence to that length (never cuts); ``channels`` turns mono into
    that many identical channels. ``rng`` draws the dither (default: :func:`fresh_rng`). A failure
    removes the half-written target. Returns ``target``.
    """
    target = Path(target)
    y, rate = sf.read(str(source), dtype="float64", always_2d=True)  # (frames, channels), exact for PCM sources
    channels = channels or y.shape[1]
    if y.shape[1] != channels:
        if y.shape[1] != 1:
            raise BadInputError(f"cannot serve {y.shape[1]} channels as {channels}")
        y = np.repeat(y, channels, axis=1)
    if frames is not None and frames > y.shape[0]:
        y = np.concatenate([y, np.zeros((frames - y.shape[0], channels))])
    samples = dither_to_pcm24(y, rng if rng is not None else fresh_rng())
    try:
        with sf.SoundFile(str(target), "w", rate, channels, subtype=SERVED_SUBTYPE, format=SERVED_FORMAT) as out:
            out.write(samples << 8)  # libsndfile keeps the top 24 bits of int32
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def serve_copies(sources: Sequence[str | os.PathLike], folder: str | os.PathLike, *,
                 rng: np.random.Generator | None = None) -> list[Path]:
    """Fresh copies of the ``sources`` of one trial in ``folder``, alike in everything but their sound.

    Every copy has the same size in bytes (one rate, the most channels, the longest length), a
    random name ``<token>.wav``, its own dither and one shared modification time (whole seconds, so
    ``Last-Modified`` and ``ETag`` agree). The sources must share one sample rate. Returns the
    paths in the order of ``sources``; on failure no copy is left.
    """
    infos = [sf.info(str(s)) for s in sources]
    rates = {info.samplerate for info in infos}
    if len(rates) > 1:
        raise BadInputError(f"the stimuli of one trial must share one sample rate, got {sorted(rates)}")
    frames = max(info.frames for info in infos)
    channels = max(info.channels for info in infos)
    folder = Path(folder)
    copies: list[Path] = []
    try:
        for source in sources:
            target = folder / f"{secrets.token_urlsafe(16)}{SERVED_SUFFIX}"
            copies.append(serve_copy(source, target, rng if rng is not None else fresh_rng(),
                                     frames=frames, channels=channels))
        stamp = int(time.time()) * 1_000_000_000
        for path in copies:
            os.utime(path, ns=(stamp, stamp))
    except BaseException:
        for path in copies:
            path.unlink(missing_ok=True)
        raise
    return copies
