"""Run a method or a chain of methods over a signal or a file: the library's ``restore`` entry."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .arguments import check_output_file
from .audio import check_rate, check_signal, load_audio, resample, same_file, sample_peak, save_audio
from .errors import BadInputError
from .registry import parse_chain, split_params

Progress = Callable[[int, int], None] | None
#: Peak above which an output is scaled down, unless the input already went that high.
CLIP_PEAK = 0.999


def restore(y: np.ndarray, sr: int, method: str, params: dict[str, Any] | None = None, *,
            progress: Progress = None, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Restore ``y`` (float32 ``(channels, samples)`` or ``(samples,)``) with ``method``.

    ``method`` is a registered name or a chain ``"a+b"``; ``params`` maps names (or
    ``"method.name"`` in a chain) to values. Returns ``(output, output_rate)``; the output has the
    input's channels, is finite, and is scaled down only where it would clip and the input did not.
    ``sample_rate`` resamples the final output. A frequency parameter above the Nyquist
    frequency of its stage's input raises :class:`BadParameterError`. ``progress(done, total)`` counts in thousandths.
    """
    chain = parse_chain(method)
    stage_params = [m.resolve(p) for m, p in zip(chain, split_params(chain, params))]
    if sample_rate is not None:  # 0 is refused, not taken for 'the input rate'
        check_rate(sample_rate, what="the output sample rate")
    y = check_signal(y, sr)
    rate = int(sr)
    for stage, values in zip(chain, stage_params):  # refuse before any stage runs
        stage.check_rate(values, rate)
        rate = stage.output_rate(rate, values)
    peak_in = sample_peak(y)
    out, rate = y, int(sr)
    for index, (stage, values) in enumerate(zip(chain, stage_params)):
        stage_progress = _stage_progress(progress, index, len(chain))
        out = stage.function()(out, rate, progress=stage_progress, **values)
        rate = stage.output_rate(rate, values)
        out = np.asarray(out, dtype=np.float32)
        if out.shape[0] != y.shape[0] or not np.all(np.isfinite(out)):
            raise RuntimeError(f"method {stage.name} returned shape {out.shape} or non-finite samples")
    if sample_rate and sample_rate != rate:
        out, rate = resample(out, rate, int(sample_rate)), int(sample_rate)
    out = limit_peak(out, max(peak_in, CLIP_PEAK))
    if progress is not None:
        progress(1000, 1000)
    return out, rate


def limit_peak(y: np.ndarray, peak: float) -> np.ndarray:
    """Scale ``y`` down (one gain for the whole signal) so that ``max|y| <= peak``."""
    top = sample_peak(y)
    return y * np.float32(peak / top) if top > peak else y


@dataclass(frozen=True)
class RestoreReport:
    """What ``restore_file`` did: the method, the clip duration in s, wall time in s and rates."""

    method: str
    duration_s: float
    seconds: float
    input_sr: int
    output_sr: int
    output: Path

    @property
    def realtime_factor(self) -> float:
        """Processing time divided by audio duration (below 1 is faster than real time)."""
        return self.seconds / self.duration_s

    def line(self) -> str:
        return (f"{self.method}: {self.duration_s:.2f} s of audio in {self.seconds:.2f} s "
                f"(real-time factor {self.realtime_factor:.3f}), {self.input_sr} Hz -> {self.output_sr} Hz, "
                f"wrote {self.output}")


def restore_file(source: str | os.PathLike, target: str | os.PathLike, method: str,
                 params: dict[str, Any] | None = None, *, sample_rate: int | None = None,
                 subtype: str = "pcm16", progress: Progress = None) -> RestoreReport:
    """Read ``source``, restore it and write ``target`` atomically (never over ``source``)."""
    source, target = Path(source), check_output_file(target)  # a folder is refused before the work
    if same_file(target, source):
        raise BadInputError(f"refusing to overwrite the input file {target}")
    if sample_rate is not None:  # 0 is refused, not taken for 'the input rate'
        check_rate(sample_rate, what="the output sample rate")
    y, sr = load_audio(source)
    start = time.perf_counter()
    out, rate = restore(y, sr, method, params, progress=progress, sample_rate=sample_rate)
    seconds = time.perf_counter() - start
    save_audio(target, out, rate, subtype=subtype, source=source)
    return RestoreReport(method, y.shape[-1] / sr, seconds, sr, rate, target)


def _stage_progress(progress: Progress, index: int, stages: int) -> Progress:
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        fraction = (index + (done / total if total else 1.0)) / stages
        progress(int(round(999 * fraction)), 1000)

    return report
