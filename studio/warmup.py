"""Warm the app up at start, in a background thread, so no user's first click pays for imports,
numba compilation or the example restorations."""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

import numpy as np

from restoration import RestorationError, restore

from . import comparison
from .comparison import Side
from .workbench import Workbench

log = logging.getLogger("restoration.app")


def warm_up(workbench: Workbench, *, examples: list[str], method: str) -> None:
    """One small restoration and comparison (imports librosa, numba, pyloudnorm, scipy, matplotlib's
    colour maps and PIL's fonts), then restore each example with ``method`` into the example cache."""
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal((2, 32000))).astype(np.float32)
    out, rate = restore(y, 32000, method)
    with tempfile.TemporaryDirectory() as folder:
        a, b = Side(str(Path(folder) / "a.wav"), "a", 32000), Side(str(Path(folder) / "b.wav"), "b", rate)
        comparison.first_paint(lambda name: Path(folder) / name, a, (y, 32000), b, (out, rate), None,
                               caption="warm-up")
        comparison.details((y, 32000), (out, rate), a, b, None, visqol=False)
    for clip in examples:
        try:
            workbench.cache_example(clip, method)
        except RestorationError as exc:  # an unreadable example is shown as it is, without a cached result
            log.warning("example %s not cached: %s", Path(clip).name, exc)


def start_warm_up(workbench: Workbench, *, examples: list[str], method: str) -> threading.Thread:
    """Run :func:`warm_up` in a daemon thread; returns the thread (join it to wait)."""
    thread = threading.Thread(target=warm_up, args=(workbench,), kwargs=dict(examples=examples, method=method),
                              name="restoration-warm-up", daemon=True)
    thread.start()
    return thread
