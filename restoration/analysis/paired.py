"""Paired comparison of two systems scored on the same clips: mean difference, bootstrap interval, wins, Wilcoxon.

One score per clip and system, the clips in the same order on both sides. Used by ``restoration score``
(any two conditions) and ``scripts/compare_reports.py`` (two ``train --evaluate`` rows).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

#: Bootstrap resamples of the mean difference (seeded: the same scores give the same interval).
RESAMPLES = 4000
#: Two scores closer than this (relative, or absolute near zero) are a tie.
TIE_RTOL = 1e-6
TIE_ATOL = 1e-9


def paired(a, b, *, seed: int = 0, min_clips_for_p: int = 2) -> dict[str, float]:
    """Compare the per-clip scores ``a`` and ``b`` (float ``(clips,)`` each, clip ``i`` on both sides).

    Returns ``clips``; the means ``a`` and ``b``; ``difference``, the mean of ``a - b``, with ``low`` and
    ``high``, its 95 % percentile bootstrap interval (:data:`RESAMPLES` resamples of the clips, NaN under
    2 clips); ``wins``, ``losses`` and ``ties``, the clips on which ``a`` is higher, lower, equal (within
    :data:`TIE_RTOL`); ``p``, the two-sided Wilcoxon signed-rank p of the differences (NaN with fewer than
    ``min_clips_for_p`` clips or when every clip is a tie). Which side is better is the caller's call.
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores need two equal 1-D arrays, got {a.shape} and {b.shape}")
    n = len(a)
    result = {"clips": n, "a": math.nan, "b": math.nan, "difference": math.nan, "low": math.nan,
              "high": math.nan, "wins": 0, "losses": 0, "ties": 0, "p": math.nan}
    if n == 0:
        return result
    difference = a - b
    tied = np.isclose(a, b, rtol=TIE_RTOL, atol=TIE_ATOL)
    result.update(a=float(a.mean()), b=float(b.mean()), difference=float(difference.mean()),
                  wins=int((~tied & (difference > 0)).sum()), losses=int((~tied & (difference < 0)).sum()),
                  ties=int(tied.sum()))
    if n >= 2:
        rng = np.random.default_rng(seed)
        boots = difference[rng.integers(0, n, (RESAMPLES, n))].mean(axis=1)
        result.update(low=float(np.percentile(boots, 2.5)), high=float(np.percentile(boots, 97.5)))
    if n >= max(2, min_clips_for_p) and not tied.all():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result["p"] = float(wilcoxon(np.where(tied, 0.0, difference)).pvalue)
    return result
