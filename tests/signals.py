"""Synthetic test signals: full-band music-like audio made with numpy alone."""

import numpy as np
from scipy.signal import butter, sosfiltfilt

from restoration.synth import make_music  # noqa: F401 (re-exported for the tests)


def lowpass(y: np.ndarray, sr: int, cutoff_hz: float, order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth low-pass of ``(..., samples)``."""
    return sosfiltfilt(butter(order, cutoff_hz, fs=sr, output="sos"), y, axis=-1).astype(np.float32)
