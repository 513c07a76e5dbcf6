"""Audio files, resampling and channel handling: the only module that touches audio files.

Signals are float32 arrays of shape ``(channels, samples)`` with values nominally in [-1, 1].
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from .arguments import check_output_file
from .errors import BadInputError, OutputError

#: Longest STFT frame any method uses at the input rate; shorter clips are refused.
MIN_SAMPLES = 2048
MAX_CHANNELS = 2
#: Sample rates accepted anywhere (files, arrays, requested output rates), Hz.
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 384000

#: File suffix -> soundfile format for writing.
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".mp3": "MP3"}
#: Sample rates an MP3 file can have (MPEG-1 and MPEG-2 layer III), Hz.
MP3_RATES = (16000, 22050, 24000, 32000, 44100, 48000)
#: Name used on the command line and in the app -> soundfile subtype.
SUBTYPES = {"pcm16": "PCM_16", "pcm24": "PCM_24", "float": "FLOAT"}


class AudioWarning(UserWarning):
    """Audio was read but not as it claims to be: a truncated file, float samples beyond full scale."""


#: Frames decoded per block (about 0.25 MB per channel).
READ_BLOCK = 1 << 16


def load_audio(path: str | os.PathLike, *, sr: int | None = None, mono: bool = False,
               max_seconds: float | None = None, max_sr: int | None = None,
               first_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Read WAV, FLAC, OGG/Vorbis, MP3 (anything libsndfile reads).

    Returns ``(y, rate)`` with ``y`` float32 of shape ``(channels, samples)``; resampled to ``sr``
    when given, or down to ``max_sr`` when the file's rate is above it; averaged to one channel when
    ``mono``. Files are decoded block by block (:data:`READ_BLOCK` frames) and resampled as they
    are read (soxr's streaming resampler), so memory is that of the result, never of the file's
    full-rate signal nor of a second copy. Raises :class:`BadInputError` (naming the
    file by its base name only) for a missing, empty or undecodable file, a sample rate outside
    :data:`MIN_SAMPLE_RATE`..:data:`MAX_SAMPLE_RATE`, more than two channels, or more than
    ``max_seconds`` of audio; all of these are checked on the header, before any sample is read.
    ``first_seconds`` reads only the file's beginning, at most that long (memory bounded by it).
    A truncated file and float samples beyond full scale (then scaled down to it, never clipped)
    give an :class:`AudioWarning`.
    """
    path = Path(path)
    info = probe_audio(path)
    duration = info.frames / info.samplerate
    if max_seconds is not None and duration > max_seconds:
        raise BadInputError(f"{path.name} is {_minutes(duration)} long; this server accepts at most "
                            f"{_minutes(max_seconds)}")
    rate = int(info.samplerate)
    frames = -1 if first_seconds is None else max(1, int(round(first_seconds * rate)))
    target = check_rate(sr) if sr is not None else (min(rate, check_rate(max_sr)) if max_sr is not None else rate)
    try:
        with quiet_decoder():
            y, peak = _read_blocks(path, info, target, mono=mono, frames=frames)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, MemoryError):
        raise BadInputError(f"cannot decode {path.name}: not decodable audio") from None
    _warn_if_truncated(path, info)
    return _fit_full_scale(y, path.name, peak), target


def _read_blocks(path: Path, info, target: int, *, mono: bool, frames: int = -1) -> tuple[np.ndarray, float]:
    """Decode ``path`` (its first ``frames`` frames; -1: all) block by block into a float32 ``(channels, samples)`` array, resampling each
    block to ``target`` Hz as it comes when that is not the file's rate (soxr VHQ streaming: the same
    samples as :func:`resample` of the whole signal) and averaging the channels when ``mono``.

    Returns the array and the peak of the decoded samples (before resampling; NaN when any is not
    finite), for :func:`_fit_full_scale`. Memory: the result and a few blocks.
    """
    channels = 1 if mono else info.channels
    stream = None
    if target != info.samplerate:
        import soxr

        stream = soxr.ResampleStream(info.samplerate, target, channels, dtype="float32", quality="VHQ")
    count = info.frames if frames < 0 else min(info.frames, frames)
    expected = int(round(count * target / info.samplerate))
    out = np.zeros((channels, expected), dtype=np.float32)
    extra: list[np.ndarray] = []  # beyond the header's frame count (a decoder's estimate)
    written, peak = 0, 0.0

    def put(chunk: np.ndarray) -> None:
        nonlocal written
        take = min(chunk.shape[0], expected - written)
        out[:, written:written + take] = chunk[:take].T
        written += take
        if take < chunk.shape[0]:
            extra.append(np.ascontiguousarray(chunk[take:].T))

    with sf.SoundFile(str(path)) as handle:
        for block in handle.blocks(blocksize=READ_BLOCK, frames=frames, dtype="float32", always_2d=True):
            peak = float(np.maximum(peak, sample_peak(block)))  # a NaN stays
            if mono and block.shape[1] > 1:
                block = block.mean(axis=1, keepdims=True)
            put(stream.resample_chunk(block) if stream is not None else block)
    if stream is not None:
        put(stream.resample_chunk(np.zeros((0, channels), dtype=np.float32), last=True))
    if extra:
        return np.concatenate([out, *extra], axis=1), peak
    return (out if written == expected else np.ascontiguousarray(out[:, :written])), peak


def sample_peak(y: np.ndarray) -> float:
    """Largest ``|sample|`` of ``y`` (NaN or inf when a sample is not finite), without a full-size temporary."""
    if not y.size:
        return 0.0
    top, bottom = float(np.max(y)), float(np.min(y))
    if not (np.isfinite(top) and np.isfinite(bottom)):
        return float("nan")
    return max(top, -bottom)


def probe_audio(path: str | os.PathLike):
    """The header of an audio file (``soundfile.info``), checked: it exists, is a decodable file of
    one or two channels at a sample rate within :data:`MIN_SAMPLE_RATE`..:data:`MAX_SAMPLE_RATE`."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"no such file: {path.name}")
    if path.is_dir():
        raise BadInputError(f"is a directory, not an audio file: {path.name or path}")
    if path.stat().st_size == 0:
        raise BadInputError(f"empty file: {path.name}")
    if not os.access(path, os.R_OK):
        raise BadInputError(f"cannot read {path.name}: permission denied")
    try:
        with quiet_decoder():
            info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise BadInputError(f"cannot decode {path.name}: not decodable audio "
                            "(WAV, FLAC, OGG/Vorbis and MP3 are supported)") from None
    check_rate(info.samplerate, what=f"the sample rate of {path.name}")
    if info.channels > MAX_CHANNELS:
        raise BadInputError(f"{path.name} has {info.channels} channels; only mono and stereo are supported")
    if info.frames <= 0:
        raise BadInputError(f"{path.name} holds no audio samples")
    return info


def check_rate(sr, *, what: str = "sample rate") -> int:
    """``sr`` as an int if it is a whole number of Hz within :data:`MIN_SAMPLE_RATE`..:data:`MAX_SAMPLE_RATE`."""
    if isinstance(sr, (bool, np.bool_)) or not isinstance(sr, (int, np.integer)) \
            or not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise BadInputError(f"{what} must be a whole number from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, got {sr!r}")
    return int(sr)


_DECODER_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet_decoder():
    """Keep the decoders' own notes (libmpg123's ``Note: ...`` lines on file descriptor 2) off stderr.

    File descriptor 2 goes to a temporary file while the block runs; afterwards every captured
    line that is not a decoder note is written back, so other output is delayed, never lost.
    """
    with _DECODER_LOCK, tempfile.TemporaryFile() as capture:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(keepends=True) if not _is_decoder_note(line)]
            if kept:
                os.write(2, b"".join(kept))


def _is_decoder_note(line: bytes) -> bool:
    return line.startswith((b"Note:", b"Warning:", b"[")) or b"mpg123" in line


def _warn_if_truncated(path: Path, info) -> None:
    """An :class:`AudioWarning` when the header promises more data than the file holds (WAV, AIFF)."""
    match = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", info.extra_info or "", re.MULTILINE)
    if match and int(match.group(2)) < int(match.group(1)):
        promised, held = int(match.group(1)), int(match.group(2))
        warnings.warn(f"{path.name} is truncated: its header promises {promised} bytes of audio, the file holds "
                      f"{held}; reading what is there ({info.frames / info.samplerate:.2f} s)", AudioWarning, stacklevel=3)


def _fit_full_scale(y: np.ndarray, name: str, peak: float) -> np.ndarray:
    """Float files may exceed full scale: scale a signal whose file ``peak`` is above 1 down by that
    peak, with an :class:`AudioWarning`; a NaN or infinite ``peak`` is refused."""
    if not np.isfinite(peak):
        raise BadInputError(f"{name} contains NaN or infinite samples")
    if peak > 1.0:
        warnings.warn(f"{name} peaks at {peak:.4g}, beyond full scale; scaled down by {20 * np.log10(peak):.1f} dB "
                      "to a peak of 1.0", AudioWarning, stacklevel=3)
        y *= np.float32(1.0 / peak)
    return y


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def save_audio(
    path: str | os.PathLike,
    y: np.ndarray,
    sr: int,
    *,
    subtype: str = "pcm16",
    source: str | os.PathLike | None = None,
) -> Path:
    """Write ``y`` (``(channels, samples)`` or ``(samples,)``) as WAV, FLAC or MP3, chosen by suffix.

    ``subtype`` is ``pcm16``, ``pcm24`` or ``float`` (WAV only); MP3 ignores it (layer III).
    The file is written to a temporary name beside ``path`` and renamed, so a failure never leaves a half-written file. ``source`` is
    the input file: writing over it is refused.
    """
    path = check_output_file(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BadInputError(f"cannot write {path.suffix or 'a file without suffix'}: use .wav, .flac or .mp3")
    if subtype not in SUBTYPES:
        raise BadInputError(f"unknown sample format {subtype!r}; choose from {', '.join(SUBTYPES)}")
    if fmt == "FLAC" and subtype == "float":
        raise BadInputError("FLAC cannot hold float samples; use pcm16 or pcm24")
    if fmt == "MP3" and int(sr) not in MP3_RATES:
        raise BadInputError(f"MP3 cannot hold {sr} Hz audio; rates: {', '.join(map(str, MP3_RATES))}")
    if source is not None and same_file(path, source):
        raise BadInputError(f"refusing to overwrite the input file {path}")
    y = as_channels_first(y)
    sr = check_rate(sr, what="output sample rate")
    if not path.parent.exists():
        raise OutputError(f"output folder does not exist: {path.parent}")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(suffix=path.suffix, prefix=".out.", dir=path.parent)
        os.close(fd)
        _write_blocks(tmp, y, sr, fmt, "MPEG_LAYER_III" if fmt == "MP3" else SUBTYPES[subtype], clip=subtype != "float")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; an output file gets the usual mode
        os.replace(tmp, path)
    except (OSError, sf.LibsndfileError) as exc:
        raise OutputError(f"cannot write {path}: {_write_problem(exc, path, y.nbytes)}") from None
    finally:
        if tmp is not None and Path(tmp).exists():
            Path(tmp).unlink(missing_ok=True)
    return path


#: Frames written per block: the file is written without a full-length clipped or transposed copy.
WRITE_BLOCK = 1 << 18


def _write_blocks(path: str, y: np.ndarray, sr: int, fmt: str, subtype: str, *, clip: bool) -> None:
    """Write ``(channels, samples)`` ``y`` to ``path`` block by block, clipped to [-1, 1] when ``clip``."""
    with sf.SoundFile(path, "w", samplerate=sr, channels=y.shape[0], format=fmt, subtype=subtype) as handle:
        for start in range(0, y.shape[-1], WRITE_BLOCK):
            block = np.array(y[:, start:start + WRITE_BLOCK].T, order="C")  # a copy: y is never changed
            handle.write(np.clip(block, -1.0, 1.0, out=block) if clip else block)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_problem(exc: BaseException, path: Path, nbytes: int) -> str:
    """What stopped a write, in a few words (libsndfile says only "System error" when the disk is full)."""
    import errno
    import shutil

    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    try:
        if shutil.disk_usage(path.parent).free < nbytes:
            return "no space left on device"
    except OSError:
        pass
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` are the same existing file (False when either cannot be looked at)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


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
    check_rate(sr)
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
