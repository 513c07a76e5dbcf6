"""Audio files, resampling and channel handling: the only module that touches audio files.

Signals are float32 arrays of shape ``(channels, samples)`` with values nominally in [-1, 1].
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import BadInputError, first_line

#: Longest STFT frame any method uses at the input rate; shorter clips are refused.
MIN_SAMPLES = 2048
MAX_CHANNELS = 2

#: File suffix -> soundfile format for writing.
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".mp3": "MP3"}
#: Sample rates an MP3 file can have (MPEG-1 and MPEG-2 layer III), Hz.
MP3_RATES = (16000, 22050, 24000, 32000, 44100, 48000)
#: Name used on the command line and in the app -> soundfile subtype.
SUBTYPES = {"pcm16": "PCM_16", "pcm24": "PCM_24", "float": "FLOAT"}


def load_audio(path: str | os.PathLike, *, sr: int | None = None, mono: bool = False) -> tuple[np.ndarray, int]:
    """Read WAV, FLAC, OGG/Vorbis, MP3 (anything libsndfile reads).

    Returns ``(y, rate)`` with ``y`` float32 of shape ``(channels, samples)``; resampled to ``sr``
    when given, averaged to one channel when ``mono``. Raises :class:`BadInputError` for a missing,
    empty or undecodable file, or one with more than two channels.
    """
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"no such file: {path}")
    if path.is_dir():
        raise BadInputError(f"is a directory, not an audio file: {path}")
    if path.stat().st_size == 0:
        raise BadInputError(f"empty file: {path}")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise BadInputError(f"cannot decode {path.name} as audio ({first_line(exc)})") from None
    y = np.ascontiguousarray(data.T)
    if y.shape[0] > MAX_CHANNELS:
        raise BadInputError(f"{path.name} has {y.shape[0]} channels; only mono and stereo are supported")
    if mono:
        y = to_channels(y, 1)
    if sr is not None and sr != rate:
        y, rate = resample(y, rate, sr), sr
    return y, int(rate)


def save_audio(
    path: str | os.PathLike,
    y: np.ndarray,
    sr: int,
    *,
    subtype: str = "pcm16",
    source: str | os.PathLike | None = None,
) -> Path:
    """Write ``y`` (``(channels, samples)`` or ``(samples,)``) as WAV, FLAC or MP3, chosen by suffix.

    ``subtype`` is ``pcm16``, ``pcm24`` or ``float`` (WAV only); MP3 ignores it (layer III, VBR). The file is written to a temporary
    name beside ``path`` and renamed, so a failure never leaves a half-written file. ``source`` is
    the input file: writing over it is refused.
    """
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BadInputError(f"cannot write {path.suffix or 'a file without suffix'}: use .wav, .flac or .mp3")
    if subtype not in SUBTYPES:
        raise BadInputError(f"unknown sample format {subtype!r}; choose from {', '.join(SUBTYPES)}")
    if fmt == "FLAC" and subtype == "float":
        raise BadInputError("FLAC cannot hold float samples; use pcm16 or pcm24")
    if fmt == "MP3" and int(sr) not in MP3_RATES:
        raise BadInputError(f"MP3 cannot hold {sr} Hz audio; rates: {', '.join(map(str, MP3_RATES))}")
    if source is not None and Path(source).exists() and path.exists() and path.resolve() == Path(source).resolve():
        raise BadInputError(f"refusing to overwrite the input file {path}")
    y = as_channels_first(y)
    if subtype != "float":
        y = np.clip(y, -1.0, 1.0)
    if not path.parent.exists():
        raise BadInputError(f"output folder does not exist: {path.parent}")
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, prefix=f".{path.stem}.", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, y.T, int(sr), format=fmt, subtype="MPEG_LAYER_III" if fmt == "MP3" else SUBTYPES[subtype])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``(..., samples)`` with soxr (VHQ); output length ``round(n * target_sr / orig_sr)``."""
    import soxr

    if orig_sr == target_sr:
        return np.asarray(y, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    lead = y.shape[:-1]
    flat = y.reshape(-1, y.shape[-1])
    out = soxr.resample(flat.T, orig_sr, target_sr, quality="VHQ")
    out = np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, flat.shape[0]).T)
    return out.reshape(*lead, out.shape[-1])


def as_channels_first(y: np.ndarray) -> np.ndarray:
    """``(samples,)`` -> ``(1, samples)``; ``(channels, samples)`` unchanged; float32."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        return y[None, :]
    if y.ndim != 2:
        raise BadInputError(f"audio must be 1-D or 2-D (channels, samples), got shape {y.shape}")
    return y


def to_channels(y: np.ndarray, channels: int) -> np.ndarray:
    """Convert ``(c, n)`` to ``channels`` (1 or 2): average to mono, or duplicate mono to stereo."""
    y = as_channels_first(y)
    if y.shape[0] == channels:
        return y
    if channels == 1:
        return y.mean(axis=0, keepdims=True)
    if y.shape[0] == 1:
        return np.repeat(y, channels, axis=0)
    raise BadInputError(f"cannot convert {y.shape[0]} channels to {channels}")


def check_signal(y: np.ndarray, sr: int, *, min_samples: int = MIN_SAMPLES, allow_silence: bool = False) -> np.ndarray:
    """Validate a signal for processing and return it as float32 ``(channels, samples)``.

    Raises :class:`BadInputError` naming the problem: bad rate, bad shape, more than two channels,
    zero length, shorter than ``min_samples``, NaN/Inf samples, or all zeros (unless ``allow_silence``).
    """
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise BadInputError(f"sample rate must be a positive integer, got {sr!r}")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[0] > MAX_CHANNELS and 0 < y.shape[1] <= MAX_CHANNELS:
        raise BadInputError(f"audio of shape {y.shape} looks like (samples, channels); pass (channels, samples)")
    y = as_channels_first(y)
    if y.shape[0] > MAX_CHANNELS:
        raise BadInputError(f"audio has {y.shape[0]} channels; only mono and stereo are supported")
    if y.shape[-1] == 0:
        raise BadInputError("audio has zero length")
    if y.shape[-1] < min_samples:
        raise BadInputError(
            f"audio is too short: {y.shape[-1]} samples ({1000 * y.shape[-1] / sr:.1f} ms); "
            f"at least {min_samples} samples are needed"
        )
    if not np.all(np.isfinite(y)):
        raise BadInputError("audio contains NaN or infinite samples")
    if not allow_silence and not np.any(y):
        raise BadInputError("audio is silent (all samples are zero)")
    return y


def to_pcm16(y: np.ndarray) -> np.ndarray:
    """``(channels, samples)`` float -> int16 ``(samples, channels)``, as gradio's Audio expects."""
    y = np.clip(as_channels_first(y), -1.0, 1.0)
    return np.ascontiguousarray((y.T * 32767.0).round().astype(np.int16))


def from_pcm(data: np.ndarray) -> np.ndarray:
    """Integer or float ``(samples,)`` / ``(samples, channels)`` array -> float32 ``(channels, samples)``."""
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise BadInputError(f"audio array must be 1-D or 2-D, got shape {data.shape}")
    if np.issubdtype(data.dtype, np.integer):
        scale = float(np.iinfo(data.dtype).max) + 1.0
        out = data.astype(np.float32) / scale
    else:
        out = data.astype(np.float32)
    return np.ascontiguousarray(out.T)
