"""Integrated loudness (ITU-R BS.1770-4 via pyloudnorm) and peak-safe loudness matching.

The app's A/B player and the listening tests play every version at the same loudness, so a
louder (not better) version cannot win a comparison.
"""

from __future__ import annotations

import numpy as np

from ..audio import check_signal
from ..errors import BadInputError

#: BS.1770 gating block, seconds; shorter clips are measured as one block.
BLOCK_S = 0.4
#: Clips longer than this (samples) are measured by :func:`streamed_loudness` (bounded memory).
STREAM_SAMPLES = 1 << 21
#: Samples K-weighted per step of :func:`streamed_loudness`.
STREAM_CHUNK = 1 << 16
#: Sample-peak ceiling of :func:`match_loudness`, dBFS (a sample of 1.0 is 0 dBFS).
CEILING_DBFS = -0.1


def integrated_loudness(y: np.ndarray, sr: int) -> float:
    """Integrated loudness of ``y`` (``(samples,)`` or ``(channels, samples)``), LUFS.

    ITU-R BS.1770-4 as implemented by ``pyloudnorm.Meter``: K-weighting, 400 ms blocks with
    75 % overlap, absolute gate at -70 LUFS, relative gate at -10 LU; channels are summed with
    unit weights (L, R). A clip shorter than 400 ms is measured as a single gating block that
    spans the whole clip. A 1 kHz sine of amplitude A reads about ``20 log10(A) - 3.01`` LUFS
    per channel (mono). Clips longer than :data:`STREAM_SAMPLES` go through
    :func:`streamed_loudness`: the same value in a few MB instead of several float64 copies.

    Returns ``-inf`` for silence or for a signal whose every block is below the -70 LUFS
    absolute gate. Raises :class:`BadInputError` for NaN/Inf samples, zero length or more
    than two channels.
    """
    import pyloudnorm

    y = check_signal(y, sr, min_samples=1, allow_silence=True)
    n = y.shape[-1]
    block = BLOCK_S
    if n < BLOCK_S * sr:
        block = n / sr
        while n < block * sr:  # float rounding; pyloudnorm refuses a block longer than the clip
            block = float(np.nextafter(block, 0.0))
    if not np.any(y):
        return float("-inf")
    meter = pyloudnorm.Meter(sr, block_size=block)
    if n > STREAM_SAMPLES:
        return streamed_loudness(y, meter)
    return float(meter.integrated_loudness(y.T.astype(np.float64)))


def streamed_loudness(y: np.ndarray, meter, *, chunk: int = STREAM_CHUNK) -> float:
    """``meter.integrated_loudness(y.T)`` (pyloudnorm, channel gains 1) of float ``(channels, samples)``
    ``y``, K-weighting ``chunk`` samples at a time (filter state carried over) and summing each
    gating block's energy from prefix sums taken at the blocks' edges; LUFS."""
    from scipy.signal import lfilter

    channels, n = y.shape
    rate, size, step = meter.rate, meter.block_size, 1.0 - meter.overlap
    count = int(np.round((n / rate - size) / (size * step))) + 1
    lower = np.array([int(size * (j * step) * rate) for j in range(count)])
    upper = np.array([int(size * (j * step + 1) * rate) for j in range(count)])
    edges = np.unique(np.clip(np.concatenate([lower, upper]), 0, n))
    energy = np.zeros((channels, len(edges)))  # sum of squares of the weighted signal before each edge
    stages = list(meter._filters.values())
    for c in range(channels):
        states = [np.zeros(max(len(f.a), len(f.b)) - 1) for f in stages]
        total = 0.0
        for start in range(0, n, chunk):
            x = y[c, start:start + chunk].astype(np.float64)
            for k, f in enumerate(stages):
                x, states[k] = lfilter(f.b, f.a, x, zi=states[k])
                x *= f.passband_gain
            prefix = total + np.cumsum(np.square(x))
            inside = (edges > start) & (edges <= start + len(x))
            energy[c, inside] = prefix[edges[inside] - start - 1]
            total = float(prefix[-1])
    at = {edge: k for k, edge in enumerate(edges)}
    z = (energy[:, [at[min(u, n)] for u in upper]] - energy[:, [at[min(l, n)] for l in lower]]) / (size * rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(z.sum(axis=0))
        gated = block_lufs >= -70.0
        relative = (-0.691 + 10.0 * np.log10(np.sum(z[:, gated].mean(axis=1))) - 10.0) if gated.any() else np.inf
        kept = (block_lufs > relative) & (block_lufs > -70.0)
        mean = np.nan_to_num(z[:, kept].mean(axis=1)) if kept.any() else np.zeros(channels)
        return float(-0.691 + 10.0 * np.log10(np.sum(mean)))


def match_loudness(
    y: np.ndarray, sr: int, target_lufs: float = -23.0, *, ceiling_dbfs: float = CEILING_DBFS
) -> tuple[np.ndarray, float]:
    """Scale ``y`` to ``target_lufs`` without clipping.

    The gain is ``target_lufs - integrated_loudness(y, sr)`` dB; if that would push the sample
    peak above ``ceiling_dbfs`` (default -0.1 dBFS), the gain is lowered so the peak lands
    exactly on the ceiling and the result is quieter than the target. Returns
    ``(scaled float32 array of y's shape, gain actually applied in dB)``.

    Raises :class:`BadInputError` for invalid input, silence, or a signal too quiet to measure
    (below the -70 LUFS gate).
    """
    if ceiling_dbfs > 0.0:
        raise BadInputError(f"ceiling_dbfs must be at most 0 dBFS, got {ceiling_dbfs}")
    checked = check_signal(y, sr, min_samples=1)
    loudness = integrated_loudness(checked, sr)
    if not np.isfinite(loudness):
        raise BadInputError("audio is too quiet to measure its loudness (below the -70 LUFS gate)")
    gain_db = float(target_lufs) - loudness
    peak_dbfs = 20.0 * np.log10(float(np.max(np.abs(checked))))
    gain_db = min(gain_db, ceiling_dbfs - peak_dbfs)
    scaled = np.asarray(y, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))
    return scaled, float(gain_db)
