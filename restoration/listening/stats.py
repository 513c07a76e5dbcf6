"""Statistics of blind listening tests: pure functions of counts and ratings.

* :func:`wilson_interval` -- confidence interval of a proportion (win rate, ABX correct rate).
* :func:`sign_test` -- two-sided exact binomial test of "neither is preferred"; ties are left out
  by the caller (the classic sign test), which tests the preference among listeners who had one.
* :func:`binomial_tail` -- one-sided ``P(X >= k)`` under guessing, the ABX p-value.
* :func:`bradley_terry` -- strengths from a win matrix by Hunter's (2004) MM algorithm; a tie
  counts as half a win for each side.
* :func:`t_interval` -- mean and half width of the Student-t interval (MUSHRA ratings).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats


def wilson_interval(k: float, n: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n``; ``(nan, nan)`` when ``n == 0``.

    The interval always holds ``k / n`` and lies within [0, 1]: at ``k == n`` the upper bound is
    exactly 1 and at ``k == 0`` the lower bound exactly 0 (rounding would otherwise leave
    0.9999999999999997 below the proportion).
    """
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= k <= n:
        raise ValueError(f"successes {k} outside [0, {n}]")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if k == 0 else min(p, max(0.0, float(centre - half)))
    high = 1.0 if k == n else max(p, min(1.0, float(centre + half)))
    return low, high


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of ``wins`` against ``losses`` under p = 1/2 (ties excluded).

    ``1.0`` when there are no decisions.
    """
    n = int(wins) + int(losses)
    if n == 0:
        return 1.0
    return float(stats.binomtest(int(wins), n, 0.5, alternative="two-sided").pvalue)


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """One-sided p-value ``P(X >= k)`` for ``X ~ Binomial(n, p)``: ABX correct answers beyond guessing."""
    if n == 0:
        return 1.0
    return float(stats.binom.sf(int(k) - 1, int(n), p))


def t_interval(values: Sequence[float], *, confidence: float = 0.95) -> tuple[float, float]:
    """``(mean, half width)`` of the two-sided Student-t interval; half width nan below two values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan
    sem = float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, float(stats.t.ppf(0.5 + confidence / 2, x.size - 1)) * sem


def bt_mle_exists(wins: np.ndarray) -> bool:
    """True when the maximum-likelihood Bradley-Terry strengths exist: every item can be reached
    from every other through "beat" edges (the win graph is strongly connected, Hunter 2004)."""
    wins = np.asarray(wins, dtype=np.float64)
    m = wins.shape[0]
    beat = wins > 0
    for graph in (beat, beat.T):
        seen, stack = {0}, [0]
        while stack:
            i = stack.pop()
            for j in np.flatnonzero(graph[i]):
                if j not in seen:
                    seen.add(int(j))
                    stack.append(int(j))
        if len(seen) < m:
            return False
    return True


def bradley_terry(wins: np.ndarray, *, prior: float = 0.0, tol: float = 1e-10, max_iter: int = 100_000) -> np.ndarray:
    """Bradley-Terry strengths ``p`` (summing to 1) with ``P(i beats j) = p_i / (p_i + p_j)``.

    ``wins[..., i, j]`` is how often ``i`` was preferred to ``j`` (ties already split as 0.5 each way);
    leading axes are independent win matrices (e.g. bootstrap replicates), fitted together.
    Hunter's MM update ``p_i <- W_i / sum_j n_ij / (p_i + p_j)`` is iterated to a relative change
    below ``tol``. ``prior`` adds that many virtual wins each way to every compared pair, which
    keeps the strengths finite when the MLE does not exist (see :func:`bt_mle_exists`).
    """
    wins = np.asarray(wins, dtype=np.float64)
    if wins.ndim < 2 or wins.shape[-1] != wins.shape[-2]:
        raise ValueError(f"win matrix must be square, got shape {wins.shape}")
    m = wins.shape[-1]
    compared = (wins + np.swapaxes(wins, -1, -2)) > 0
    wins = (wins + prior * compared) * (1.0 - np.eye(m))
    games = wins + np.swapaxes(wins, -1, -2)
    total_wins = wins.sum(axis=-1)
    p = np.full(wins.shape[:-1], 1.0 / m)
    for _ in range(max_iter):
        denom = (games / (p[..., :, None] + p[..., None, :])).sum(axis=-1)
        new = np.where(denom > 0, total_wins / np.where(denom > 0, denom, 1.0), p)
        new /= new.sum(axis=-1, keepdims=True)
        if np.all(np.abs(new - p) <= tol * np.max(new, axis=-1, keepdims=True)):
            return new
        p = new
    return p
