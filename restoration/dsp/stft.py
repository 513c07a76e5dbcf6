"""STFT helpers shared by the DSP methods and the analysis: librosa's conventions, time on the last axis.

``stft`` returns complex64 ``(..., n_fft // 2 + 1, frames)`` with centred frames (zero padding of
``n_fft // 2`` at both ends) and a periodic Hann window, as ``librosa.stft(center=True,
pad_mode="constant")``; ``istft`` inverts it to ``length`` samples by windowed overlap-add divided
by the summed squared window, as ``librosa.istft``. Both equal librosa's to float32 rounding (tested)
but need only numpy: importing librosa (and the scipy.signal it pulls in) costs about 1.4 s of CPU,
which every process that restores a file paid before its first one (each Ray batch worker, each CLI
call). Frames are transformed in blocks, so the temporary memory stays small on long signals.
``band_mask`` marks the bins at or above a frequency.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Bytes of spectrum transformed per block (librosa's ``MAX_MEM_BLOCK``): small temporaries, cache-friendly.
BLOCK_BYTES = 1 << 18


@functools.lru_cache(maxsize=8)
def hann(n_fft: int) -> np.ndarray:
    """The periodic Hann window of ``n_fft`` samples, float32 (``scipy.signal.get_window("hann", n_fft)``)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def _block_frames(n_fft: int) -> int:
    return max(1, BLOCK_BYTES // ((n_fft // 2 + 1) * 8))


def _check_window(window: str) -> None:
    if window != "hann":
        raise ValueError(f"only the Hann window is supported, got {window!r}")


def stft(y: np.ndarray, *, n_fft: int = 2048, hop: int = 512, window: str = "hann") -> np.ndarray:
    """Complex64 ``(..., n_fft // 2 + 1, frames)`` of float ``(..., samples)``; ``frames = 1 + samples // hop``."""
    _check_window(window)
    y = np.asarray(y, dtype=np.float32)
    pad = n_fft // 2
    padded = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(pad, pad)])
    # (..., n_fft, frames) views; the result is Fortran-ordered like librosa's, so each block's
    # transform is written to contiguous memory
    frames = np.swapaxes(sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :], -1, -2)
    count = frames.shape[-1]
    out = np.empty((*y.shape[:-1], n_fft // 2 + 1, count), dtype=np.complex64, order="F")
    win = hann(n_fft)[:, None]
    step = _block_frames(n_fft)
    for start in range(0, count, step):
        out[..., start:start + step] = np.fft.rfft(win * frames[..., start:start + step], axis=-2)
    return out


def istft(spec: np.ndarray, *, length: int, n_fft: int = 2048, hop: int = 512, window: str = "hann") -> np.ndarray:
    """Float32 ``(..., length)`` from complex ``(..., n_fft // 2 + 1, frames)`` (the inverse of :func:`stft`)."""
    _check_window(window)
    count = spec.shape[-1]
    win = hann(n_fft)
    full = n_fft + hop * (count - 1)
    signal = np.zeros((*spec.shape[:-2], full), dtype=np.float32)
    step = _block_frames(n_fft)
    for start in range(0, count, step):
        block = np.fft.irfft(spec[..., start:start + step], n=n_fft, axis=-2).astype(np.float32, copy=False)
        _overlap_add(signal, np.swapaxes(block, -1, -2) * win, start, hop)
    weight = np.zeros(full, dtype=np.float32)
    _overlap_add(weight, np.broadcast_to(win * win, (count, n_fft)), 0, hop)
    nonzero = weight > np.finfo(np.float32).tiny
    signal[..., nonzero] /= weight[nonzero]
    pad = n_fft // 2
    out = signal[..., pad:pad + length]
    if out.shape[-1] < length:
        out = np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, length - out.shape[-1])])
    return np.ascontiguousarray(out)


def _overlap_add(signal: np.ndarray, frames: np.ndarray, first: int, hop: int) -> None:
    """Add ``frames`` ``(..., k, n_fft)`` into ``signal`` ``(..., samples)`` at ``(first + j) * hop``."""
    k, n_fft = frames.shape[-2:]
    if n_fft % hop:
        for j in range(k):
            at = (first + j) * hop
            signal[..., at:at + n_fft] += frames[..., j, :]
        return
    parts = n_fft // hop  # each frame is `parts` hop-long pieces landing on consecutive hop slots
    slots = signal[..., :signal.shape[-1] // hop * hop].reshape(*signal.shape[:-1], -1, hop)
    pieces = frames.reshape(*frames.shape[:-2], k, parts, hop)
    for p in range(parts):
        slots[..., first + p:first + p + k, :] += pieces[..., p, :]


def bin_frequencies(sr: int, n_fft: int) -> np.ndarray:
    """Centre frequency of each rfft bin, Hz, shape ``(n_fft // 2 + 1,)``."""
    return np.fft.rfftfreq(n_fft, 1.0 / sr)


def band_mask(sr: int, n_fft: int, band_hz: float) -> np.ndarray:
    """Boolean ``(n_fft // 2 + 1,)``: True for bins at or above ``band_hz`` (all bins when it is 0)."""
    return bin_frequencies(sr, n_fft) >= band_hz
