"""STFT helpers shared by the DSP methods: librosa conventions, time on the last axis.

``stft`` returns complex64 ``(..., n_fft // 2 + 1, frames)`` with centred frames and zero padding;
``istft`` inverts it to ``length`` samples. ``band_mask`` marks the bins at or above a frequency.
"""

from __future__ import annotations

import numpy as np


def stft(y: np.ndarray, *, n_fft: int = 2048, hop: int = 512, window: str = "hann") -> np.ndarray:
    import librosa

    return librosa.stft(np.asarray(y, dtype=np.float32), n_fft=n_fft, hop_length=hop, window=window,
                        center=True, pad_mode="constant").astype(np.complex64, copy=False)


def istft(spec: np.ndarray, *, length: int, n_fft: int = 2048, hop: int = 512, window: str = "hann") -> np.ndarray:
    import librosa

    return librosa.istft(spec, n_fft=n_fft, hop_length=hop, window=window, center=True,
                         length=length).astype(np.float32, copy=False)


def bin_frequencies(sr: int, n_fft: int) -> np.ndarray:
    """Centre frequency of each rfft bin, Hz, shape ``(n_fft // 2 + 1,)``."""
    return np.fft.rfftfreq(n_fft, 1.0 / sr)


def band_mask(sr: int, n_fft: int, band_hz: float) -> np.ndarray:
    """Boolean ``(n_fft // 2 + 1,)``: True for bins at or above ``band_hz`` (all bins when it is 0)."""
    return bin_frequencies(sr, n_fft) >= band_hz
