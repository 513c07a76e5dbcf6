"""Synthetic music: full-band, music-like audio made with numpy alone (tests and ``bench --quick``)."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt


def make_music(sr: int = 48000, seconds: float = 2.0, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Chords of decaying harmonic notes plus noise-burst 'drums' reaching 20 kHz; peak 0.5.

    Returns float32 ``(channels, round(sr * seconds))``; deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    n = int(round(sr * seconds))
    t = np.arange(n) / sr
    out = np.zeros((channels, n))
    beat = 0.25
    for start in np.arange(0.0, seconds, beat):
        i0 = int(start * sr)
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        env = np.exp(-(t[i0:] - start) * 3.0)
        note = sum(np.sin(2 * np.pi * f0 * k * t[i0:] + rng.uniform(0, 2 * np.pi)) / k
                   for k in range(1, 40) if f0 * k < min(sr / 2, 20000))
        burst = rng.standard_normal(n - i0) * np.exp(-(t[i0:] - start) * 30.0)
        for c in range(channels):
            out[c, i0:] += 0.2 * note * env * (0.8 + 0.4 * c / max(1, channels - 1)) + 0.3 * burst
    if sr > 40000:
        out = sosfiltfilt(butter(4, 20000, fs=sr, output="sos"), out, axis=-1)
    out *= 0.5 / np.max(np.abs(out))
    return out.astype(np.float32)
