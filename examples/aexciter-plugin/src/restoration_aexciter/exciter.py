"""ffmpeg's ``aexciter`` filter run as an external process over float32 audio, chunk by chunk.

The signal is resampled to 48 kHz, then streamed through ``ffmpeg`` as raw 32-bit float samples in
chunks of :data:`CHUNK_S` with :data:`CONTEXT_S` of real signal either side (pad-and-discard: the
filter is recursive with millisecond time constants), so memory stays bounded on long files and every
call has a timeout. No shell is involved.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from restoration import RestorationError, resample
from restoration.chunking import padded

OUTPUT_SR = 48000
#: Highest harmonic kept, Hz (aexciter's ``ceil``; below the 24 kHz Nyquist frequency of the output).
CEILING_HZ = 20000.0
CHUNK_S = 30.0
CONTEXT_S = 0.25
#: Longest one ffmpeg call may run, s (a 30 s chunk takes well under a second).
TIMEOUT_S = 120.0


def excite(y: np.ndarray, sr: int, *, progress=None, amount_db: float = 0.0, drive: float = 8.5,
           freq_hz: float = 7500.0) -> np.ndarray:
    """``y`` (float32 ``(channels, samples)`` at ``sr`` Hz) at 48 kHz with aexciter's harmonics added.

    Returns float32 ``(channels, round(samples * 48000 / sr))``. Raises :class:`RestorationError`
    when ffmpeg is missing, fails or takes longer than :data:`TIMEOUT_S` on a chunk.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RestorationError("the aexciter method needs ffmpeg on the PATH (apt-get install ffmpeg)")
    y = resample(np.asarray(y, dtype=np.float32), int(sr), OUTPUT_SR)
    shape = y.shape
    frames = y.reshape(-1, shape[-1])
    settings = (f"aexciter=amount={10.0 ** (amount_db / 20.0):.6f}:drive={drive:.6f}:freq={freq_hz:.3f}"
                f":ceil={CEILING_HZ:.0f}")
    out = padded(lambda part: _run_ffmpeg(ffmpeg, part, settings), frames, chunk=int(CHUNK_S * OUTPUT_SR),
                 context=int(CONTEXT_S * OUTPUT_SR), progress=progress)
    return out.reshape(shape)


def _run_ffmpeg(ffmpeg: str, part: np.ndarray, settings: str) -> np.ndarray:
    """One ffmpeg call: ``part`` (float32 ``(channels, samples)`` at 48 kHz) through the filter ``settings``."""
    channels = str(part.shape[0])
    raw = ["-f", "f32le", "-ar", str(OUTPUT_SR), "-ac", channels]
    command = [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "error", *raw, "-i", "pipe:0",
               "-af", settings, *raw, "pipe:1"]
    try:
        done = subprocess.run(command, input=np.ascontiguousarray(part.T, dtype="<f4").tobytes(),
                              capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RestorationError(f"ffmpeg aexciter took longer than {TIMEOUT_S:g} s on one chunk") from None
    except OSError as exc:
        raise RestorationError(f"cannot run ffmpeg: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or ["no message"]
        raise RestorationError(f"ffmpeg aexciter failed (exit status {done.returncode}): {lines[-1]}")
    out = np.frombuffer(done.stdout, dtype="<f4")
    if out.size != part.size:
        raise RestorationError(f"ffmpeg aexciter returned {out.size} samples for {part.size}")
    return out.reshape(-1, part.shape[0]).T.astype(np.float32)
