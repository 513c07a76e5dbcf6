"""A running median along one axis, equal to ``scipy.ndimage.median_filter`` and several times faster.

``scipy.ndimage.median_filter(x, size=(1, 31), mode="reflect")`` (what ``librosa.decompose.hpss``
runs twice per spectrogram) sorts every window afresh and takes ~1 s for a 10 s clip's
spectrogram; a partial sort (``np.partition``) of strided windows, taken a block of rows at a
time, gives the same values (a median is an order statistic: no rounding) in a fraction of it.
"""

from __future__ import annotations

import numpy as np

#: Elements of the windows copied at once (``rows × length × size``): bounds the memory to ~32 MB of float32.
BLOCK_ELEMENTS = 8_000_000


def median_filter(x: np.ndarray, size: int, axis: int = -1) -> np.ndarray:
    """Median of each window of ``size`` (odd) samples centred on each element along ``axis``.

    Edges are extended by mirroring (``d c b a | a b c d``, scipy's ``mode="reflect"``), so the
    result equals ``scipy.ndimage.median_filter(x, size=shape, mode="reflect")`` with ``shape``
    ``size`` along ``axis`` and 1 elsewhere. Same shape and dtype as ``x``.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"median_filter needs an odd window size, got {size}")
    x = np.asarray(x)
    moved = np.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]) if moved.size else moved.reshape(0, moved.shape[-1])
    out = np.empty_like(rows)
    half = size // 2
    step = max(1, BLOCK_ELEMENTS // max(1, rows.shape[-1] * size))
    for start in range(0, rows.shape[0], step):
        block = np.pad(rows[start:start + step], ((0, 0), (half, half)), mode="symmetric")
        windows = np.lib.stride_tricks.sliding_window_view(block, size, axis=-1)
        out[start:start + step] = np.partition(windows, half, axis=-1)[..., half]
    return np.moveaxis(out.reshape(moved.shape), -1, axis)
