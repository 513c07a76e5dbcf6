"""Effective cutoff frequency of a signal: where its long-term spectrum drops to the floor.

Definition (all levels in dB of power; ``P`` is the long-term spectrum):

1. ``P(f)``: mean of ``|rfft(hann(4096) * frame)|**2`` over frames of 4096 samples (hop 2048,
   the last one ending at the signal's end; a signal shorter than a frame is zero-padded) and
   over channels, smoothed by a moving average of 125 Hz (in power), floored at 120 dB below its
   maximum.
2. Level just below ``f``: ``L(f) = median P`` over ``[f - 2 w, f - w]`` with
   ``w = max(f * (1 - 2**(-1/6)), 500 Hz)`` (a sixth of an octave, at least 500 Hz).
   Level above ``f``: ``U(f) = max P`` over ``[f, sr / 2]``.
3. Drops: frequencies ``f >= 2 kHz`` where everything above is more than ``DROP_DB`` (15 dB)
   below the level just below, ``U(f) < L(f) - DROP_DB``. A flat noise floor above the cutoff does
   not hide a drop, and gaps in the spectrum with content above them do not count as one. Drops
   less than 500 Hz apart form a run, as deep as its largest ``L(f) - U(f)``; ``f*`` is the first
   bin of the deepest run. A dark passage of music (nothing above 1.5 kHz within 15 dB of the bass, say)
   makes a shallow run far below a codec's cutoff, whose drop to the floor is the deepest. Without
   a drop the cutoff is ``sr / 2``.
4. Cutoff: the highest frequency ``f <= f*`` where ``P(f) >= L(f*) - EDGE_DB`` (6 dB), linearly
   interpolated between bins; for a zero-phase Butterworth low-pass it lands on the filter's
   nominal cutoff.
"""

from __future__ import annotations

import numpy as np

N_FFT = 4096
HOP = 2048
SMOOTH_HZ = 125.0
FLOOR_DB = 120.0
DROP_DB = 15.0
#: The drop that ends the *visible* bandwidth (:func:`visible_bandwidth`), dB.
VISIBLE_DROP_DB = 30.0
#: ... and how far below the level just under that drop its edge lies, dB.
VISIBLE_EDGE_DB = 12.0
EDGE_DB = 6.0
LOWEST_HZ = 2000.0
MIN_WINDOW_HZ = 500.0
#: Frames per block when accumulating the long-term spectrum (bounds memory on long signals).
_BLOCK = 256


#: Keywords of :func:`cutoff_of_spectrum` for the visible bandwidth.
VISIBLE = {"drop_db": VISIBLE_DROP_DB, "edge_db": VISIBLE_EDGE_DB}


def long_term_spectrum(y: np.ndarray, sr: int, *, n_fft: int = N_FFT, hop: int = HOP) -> tuple[np.ndarray, np.ndarray]:
    """Mean power spectrum of ``y`` ``(..., samples)`` over frames and leading axes.

    Returns ``(frequencies in Hz, power)``, both ``(n_fft // 2 + 1,)``; memory stays bounded on long signals.
    """
    y = np.asarray(y, dtype=np.float32)
    flat = y.reshape(-1, y.shape[-1])
    n = flat.shape[-1]
    # Frames lie wholly inside the signal, the last one ending at its end: a frame half zero-padded
    # would add the step to zero at its edge, white splatter about 80 dB down that hides the cutoff
    # of a one-second crop.
    starts = np.arange(0, n - n_fft + 1, hop) if n >= n_fft else np.zeros(1, dtype=int)
    if n > n_fft and starts[-1] != n - n_fft:
        starts = np.append(starts, n - n_fft)
    frames = len(starts)
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    total = np.zeros(n_fft // 2 + 1)
    for channel in flat:
        if n < n_fft:
            channel = np.pad(channel, (0, n_fft - n))
        view = np.lib.stride_tricks.sliding_window_view(channel, n_fft)
        for start in range(0, frames, _BLOCK):  # frames copied a block at a time
            block = np.fft.rfft(view[starts[start:start + _BLOCK]] * window, axis=-1)
            total += np.sum(block.real.astype(np.float64) ** 2 + block.imag.astype(np.float64) ** 2, axis=0)
    return np.fft.rfftfreq(n_fft, 1.0 / sr), total / (frames * flat.shape[0])


def estimate_cutoff(y: np.ndarray, sr: int) -> float:
    """Effective cutoff frequency of ``y`` ``(..., samples)`` at rate ``sr``, in Hz.

    See the module docstring for the exact definition. Returns a value in ``[2000, sr / 2]``;
    ``sr / 2`` means no cutoff (the spectrum reaches Nyquist, or the signal is silent).
    """
    return cutoff_of_spectrum(*long_term_spectrum(y, sr), sr=sr)


def visible_bandwidth(y: np.ndarray, sr: int) -> float:
    """Bandwidth of ``y`` ``(..., samples)`` as its spectrogram shows it, in Hz.

    The module's definition with a drop of :data:`VISIBLE_DROP_DB` (30 dB) instead of 15 and an edge
    :data:`VISIBLE_EDGE_DB` (12 dB) instead of 6 below the level under the drop: a band counts when it
    comes within 30 dB of the level just below it, so a faint added band (a person sees almost nothing
    there) does not widen it, while a codec's cutoff and a band that stops short of Nyquist still end it.
    ``sr / 2`` when the spectrum reaches Nyquist or the signal is silent.
    """
    return cutoff_of_spectrum(*long_term_spectrum(y, sr), sr=sr, **VISIBLE)


def cutoff_of_spectrum(freqs: np.ndarray, power: np.ndarray, *, sr: int, drop_db: float = DROP_DB,
                       edge_db: float = EDGE_DB) -> float:
    """The cutoff (module docstring) of a long-term spectrum ``(freqs in Hz, power)`` with a drop of
    ``drop_db`` and an edge ``edge_db`` below the level under it."""
    nyquist = sr / 2.0
    if not np.any(power > 0):
        return nyquist
    width = max(1, int(round(SMOOTH_HZ / freqs[1])) | 1)
    smooth = np.convolve(np.pad(power, width // 2, mode="edge"), np.ones(width) / width, mode="valid")
    level = 10.0 * np.log10(np.maximum(smooth, smooth.max() * 10.0 ** (-FLOOR_DB / 10.0)))
    above = np.maximum.accumulate(level[::-1])[::-1]
    w = np.maximum(freqs * (1.0 - 2.0 ** (-1.0 / 6.0)), MIN_WINDOW_HZ)
    lo = np.searchsorted(freqs, freqs - 2.0 * w)
    hi = np.searchsorted(freqs, freqs - w, side="right")
    hi = np.maximum(hi, lo + 1)
    # the median of a window is at most its maximum: only bins that pass with the maximum can pass
    window_max = np.maximum.reduceat(np.append(level, -np.inf), np.ravel(np.column_stack([lo, hi])))[::2]
    candidates = np.flatnonzero((freqs >= LOWEST_HZ) & (above < window_max - drop_db))
    best = None  # (depth in dB, first bin of its run, level just below that bin)
    run = None
    for k in candidates:
        below = float(np.median(level[lo[k]:hi[k]]))
        depth = below - float(above[k])
        if depth <= drop_db:
            continue
        if run is None or freqs[k] - freqs[run[2]] > MIN_WINDOW_HZ:  # a new run of drops
            run = [depth, k, k, below]
        run[0], run[2] = max(run[0], depth), k
        if best is None or run[0] > best[0]:
            best = (run[0], run[1], run[3])
    if best is None:
        return nyquist
    return _edge(freqs, level, best[1], best[2] - edge_db)


def _edge(freqs: np.ndarray, level: np.ndarray, drop: int, threshold: float) -> float:
    """Highest frequency at or below bin ``drop`` where ``level`` is still ``>= threshold``."""
    loud = np.flatnonzero(level[:drop + 1] >= threshold)
    if loud.size == 0:
        return float(freqs[drop])
    k = int(loud[-1])
    if k + 1 >= len(level) or level[k + 1] >= threshold:
        return float(freqs[k])
    frac = (level[k] - threshold) / (level[k] - level[k + 1])
    return float(freqs[k] + frac * (freqs[k + 1] - freqs[k]))
