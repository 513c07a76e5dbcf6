"""Magnitude spectral subtraction of the band above ``band_hz`` with a quiet-frame noise profile.

STFT 2048/512 Hann (:mod:`restoration.dsp.stft`). The noise profile ``N`` of each channel is the
median magnitude, per bin, over the quietest ``quiet_fraction`` of frames ranked by the RMS of the
Hann-windowed frame. In bins at or above ``band_hz``: ``|Y| = max(|X| - alpha * N, beta * |X|)``
with the phase of ``X``. The profile comes from a first pass over the whole signal; the
subtraction then runs chunk by chunk with ``n_fft`` samples of context, which gives the same
result as one pass over the whole signal.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import get_window

from ..chunking import padded
from .stft import band_mask, istft, stft

N_FFT = 2048
HOP = 512
#: Samples per chunk of the subtraction pass (a multiple of HOP, so frames line up with the whole signal).
CHUNK = 2 ** 20
#: At most this many quiet frames enter the median (evenly spaced among them beyond that).
MAX_PROFILE_FRAMES = 16384
_BLOCK = 2048  # frames per FFT block in the first pass


def spectral_subtraction(y: np.ndarray, sr: int, *, band_hz: float = 6000.0, alpha: float = 1.2, beta: float = 0.04,
                         quiet_fraction: float = 0.2, progress=None, chunk: int = CHUNK) -> np.ndarray:
    """Subtract ``alpha`` times the noise profile from the magnitudes above ``band_hz`` (Hz).

    ``y`` is float32 ``(..., samples)``; returns the same shape. ``beta`` is the spectral floor as a
    fraction of the input magnitude; ``chunk`` (samples, rounded to a multiple of 512) bounds memory.
    """
    y = np.asarray(y, dtype=np.float32)
    flat = y.reshape(-1, y.shape[-1])
    bins = slice(int(np.argmax(band_mask(sr, N_FFT, band_hz))) if band_hz <= sr / 2 else N_FFT // 2 + 1, None)
    noise = np.stack([noise_profile(channel, quiet_fraction=quiet_fraction) for channel in flat])
    floor = (alpha * noise[:, bins])[:, :, None].astype(np.float32)

    def subtract(segment: np.ndarray) -> np.ndarray:
        spec = stft(segment, n_fft=N_FFT, hop=HOP)
        band = spec[:, bins]
        mag = np.abs(band)
        kept = np.maximum(mag - floor, beta * mag)
        spec[:, bins] = band * (kept / np.maximum(mag, np.finfo(np.float32).tiny))
        return istft(spec, length=segment.shape[-1], n_fft=N_FFT, hop=HOP)

    step = max(HOP, chunk // HOP * HOP)
    out = padded(subtract, flat, chunk=step, context=N_FFT, progress=progress)
    return out.reshape(y.shape)


def noise_profile(x: np.ndarray, *, quiet_fraction: float = 0.2, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Median STFT magnitude ``(n_fft // 2 + 1,)`` of the quietest frames of one channel ``x``.

    Frames are those of :func:`restoration.dsp.stft.stft` (centred, zero-padded, Hann); their RMS is
    taken after windowing. Memory stays bounded: only the chosen frames are transformed.
    """
    window = get_window("hann", n_fft).astype(np.float32)
    count = 1 + len(x) // hop
    energy = np.concatenate([np.einsum("ij,j->i", _frames(x, np.arange(t, min(count, t + _BLOCK)), n_fft, hop) ** 2,
                                       window ** 2) for t in range(0, count, _BLOCK)])
    quiet = np.sort(np.argsort(energy, kind="stable")[:max(1, int(round(quiet_fraction * count)))])
    if len(quiet) > MAX_PROFILE_FRAMES:
        quiet = quiet[np.linspace(0, len(quiet) - 1, MAX_PROFILE_FRAMES).round().astype(int)]
    mags = np.concatenate([np.abs(np.fft.rfft(_frames(x, quiet[i:i + _BLOCK], n_fft, hop) * window, axis=-1))
                           .astype(np.float32) for i in range(0, len(quiet), _BLOCK)])
    return np.median(mags, axis=0)


def _frames(x: np.ndarray, index: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred frames ``(len(index), n_fft)`` of ``x`` (zeros beyond its ends), without padding all of ``x``."""
    starts = np.asarray(index) * hop - n_fft // 2
    inside = (starts >= 0) & (starts + n_fft <= len(x))
    out = np.zeros((len(starts), n_fft), dtype=np.float32)
    if len(x) >= n_fft:
        out[inside] = np.lib.stride_tricks.sliding_window_view(x, n_fft)[starts[inside]]
    for row in np.flatnonzero(~inside):
        lo, hi = max(0, starts[row]), min(len(x), starts[row] + n_fft)
        if hi > lo:
            out[row, lo - starts[row]:hi - starts[row]] = x[lo:hi]
    return out
