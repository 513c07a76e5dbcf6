"""Bounded-memory processing of long signals.

``padded`` (pad-and-discard) suits recursive DSP: each chunk is processed with ``context`` samples
of real signal on both sides, and only its centre is kept. ``overlap_add`` suits neural models:
chunks overlap and are cross-faded with a triangular window (as demucs ``apply.py`` does).
Both take signals of shape ``(..., samples)`` and a ``progress(done, total)`` callback.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Progress = Callable[[int, int], None] | None


def padded(fn: Callable[[np.ndarray], np.ndarray], y: np.ndarray, *, chunk: int, context: int,
           progress: Progress = None) -> np.ndarray:
    """Apply a length-preserving ``fn`` chunk by chunk, each with ``context`` samples either side.

    Equals ``fn(y)`` exactly when ``fn`` looks no further than ``context`` samples away; for
    recursive filters the difference decays with the context (use several time constants).
    """
    n = y.shape[-1]
    if chunk <= 0 or context < 0:
        raise ValueError("chunk must be positive and context non-negative")
    if n <= chunk:
        out = fn(y)
        _report(progress, 1, 1)
        return out
    starts = range(0, n, chunk)
    out = np.empty(y.shape, dtype=np.float32)
    for i, start in enumerate(starts):
        stop = min(n, start + chunk)
        lo, hi = max(0, start - context), min(n, stop + context)
        seg = fn(y[..., lo:hi])
        out[..., start:stop] = seg[..., start - lo: start - lo + stop - start]
        _report(progress, i + 1, len(starts))
    return out


def overlap_add(fn: Callable[[np.ndarray], np.ndarray], y: np.ndarray, *, chunk: int, overlap: int,
                batch_size: int = 1, progress: Progress = None, out: np.ndarray | None = None) -> np.ndarray:
    """Apply ``fn`` over overlapping chunks of ``chunk`` samples, cross-faded over ``overlap`` samples.

    ``fn`` receives a batch of shape ``(k, ..., chunk)`` (``k <= batch_size``) and returns the same
    shape. The signal is taken as zero-padded by ``overlap`` at both ends so every sample is covered
    by a full cross-fade; the result has the shape of ``y`` and is written into ``out`` when given
    (float32, ``y``'s shape; it may not overlap ``y``). Linear ``fn`` gives ``fn(y)`` up to rounding.
    Memory: ``y``, the result and one batch of chunks (no padded copy of the signal).
    """
    if not 0 <= overlap < chunk:
        raise ValueError("overlap must be in [0, chunk)")
    n = y.shape[-1]
    stride = chunk - overlap
    count = max(1, int(np.ceil(max(n + overlap, 1) / stride)))
    window = crossfade_window(chunk, overlap).astype(np.float32)
    # The ramps are complementary (k / (overlap + 1) meets (overlap + 1 - k) / (overlap + 1)), so the
    # windows sum to exactly 1 over every kept sample: no weight buffer, and ``out`` accumulates in place.
    if out is None:
        out = np.zeros(y.shape, dtype=np.float32)
    elif out.shape != y.shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape {y.shape}")
    else:
        out[...] = 0.0
    starts = [i * stride - overlap for i in range(count)]  # in the signal's samples; the first is -overlap
    for b in range(0, count, batch_size):
        group = starts[b:b + batch_size]
        batch = np.zeros((len(group), *y.shape[:-1], chunk), dtype=np.float32)
        for k, s in enumerate(group):
            lo, hi = max(s, 0), min(s + chunk, n)
            batch[k, ..., lo - s:hi - s] = y[..., lo:hi]
        result = np.asarray(fn(batch), dtype=np.float32)
        if result.shape != batch.shape:
            raise ValueError(f"chunk function changed the shape {batch.shape} -> {result.shape}")
        for s, seg in zip(group, result):
            lo, hi = max(s, 0), min(s + chunk, n)
            out[..., lo:hi] += seg[..., lo - s:hi - s] * window[lo - s:hi - s]
        _report(progress, min(b + batch_size, count), count)
    return out


def crossfade_window(chunk: int, overlap: int) -> np.ndarray:
    """Ones with triangular ramps of ``overlap`` samples at both ends (never exactly zero)."""
    window = np.ones(chunk, dtype=np.float64)
    if overlap:
        ramp = np.arange(1, overlap + 1, dtype=np.float64) / (overlap + 1)
        window[:overlap] = ramp
        window[-overlap:] = ramp[::-1]
    return window


def _report(progress: Progress, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)
