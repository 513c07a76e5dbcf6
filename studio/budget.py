"""Work per request in the app: caps on the costly parameters, and an estimate of a request's seconds
of work that is checked before it starts (a one-line refusal) and bounded while it runs (a deadline
in the progress callback, :func:`studio.jobs.progress_callback`).

Costs are seconds of work per second of 48 kHz audio on the 2-core CPU this project is measured on
(docs/benchmark.md, docs/demucs.md), rounded up about twice over; a method that does not declare one
(a plugin) counts as :data:`DEFAULT_COST`. Demucs's cost grows with its shifts and overlap.
"""

from __future__ import annotations

from typing import Any

from restoration import BadInputError, Method
from restoration.registry import split_params

#: Seconds of work per second of audio at 48 kHz, per method; on a CUDA GPU neural ones cost
#: :data:`GPU_SPEEDUP` times less.
COSTS = {"passthrough": 0.002, "spectral_gating": 0.06, "spectral_subtraction": 0.03, "mcra_wiener": 0.04,
         "sbr": 0.04, "unet": 0.06, "demucs": 1.0}
DEFAULT_COST = 0.1
GPU_SPEEDUP = 10.0
#: Demucs's own default overlap, at which :data:`COSTS` ``["demucs"]`` was measured.
DEMUCS_OVERLAP = 0.25
#: A running request is stopped once its wall time exceeds this many times the work budget.
DEADLINE_FACTOR = 2.0


class OverBudgetError(BadInputError):
    """A request asks for more work than this server gives one request."""


def check_demucs(shifts: Any, overlap: Any, limits) -> None:
    """Refuse Demucs ``shifts`` above ``limits.max_shifts`` or ``overlap`` above ``limits.max_overlap``
    (the library allows 20 and 0.95: a hundred times the default work)."""
    if int(shifts) > limits.max_shifts:
        raise OverBudgetError(f"demucs shifts must be at most {limits.max_shifts} on this server, got {int(shifts)}")
    if float(overlap) > limits.max_overlap:
        raise OverBudgetError(f"demucs overlap must be at most {limits.max_overlap:g} on this server, "
                              f"got {float(overlap):g}")


def demucs_segment(segment: Any, limits) -> float:
    """The Demucs segment length (s) to run with: ``limits.max_segment_s`` for 0 (the model's own, up to
    40 s for hybrid models: over 1.5 GB per segment), ``segment`` itself up to that; longer is refused."""
    seconds = float(segment or 0.0)
    if seconds > limits.max_segment_s:
        raise OverBudgetError(f"demucs segment must be at most {limits.max_segment_s:g} s on this server, got {seconds:g}")
    return seconds or limits.max_segment_s


def stage_cost(method: Method, values: dict, *, gpu: bool = False) -> float:
    """Seconds of work per second of 48 kHz audio of one stage with resolved ``values``."""
    cost = COSTS.get(method.name, DEFAULT_COST)
    if method.name == "demucs":
        cost *= max(1, int(values.get("shifts", 1))) * (1.0 - DEMUCS_OVERLAP) / (1.0 - float(values.get("overlap", DEMUCS_OVERLAP)))
    return cost / GPU_SPEEDUP if gpu and method.neural else cost


def estimate_seconds(chain: list[Method], params: dict, seconds: float, sr: int, *, gpu: bool = False) -> float:
    """Estimated seconds of work to restore ``seconds`` of audio at ``sr`` Hz with ``chain`` and
    ``params`` (as :func:`restoration.restore` takes them); stages after one that outputs 48 kHz
    count at 48 kHz."""
    total, rate = 0.0, int(sr)
    for method, values in zip(chain, split_params(chain, params)):
        resolved = method.resolve(values)
        total += stage_cost(method, resolved, gpu=gpu) * seconds * rate / 48000
        rate = method.output_rate(rate, resolved)
    return total


def check_work(estimate_s: float, limits, *, what: str) -> None:
    """Refuse a request whose estimated work ``estimate_s`` exceeds ``limits.max_work_s``, in one line."""
    if estimate_s > limits.max_work_s:
        raise OverBudgetError(f"{what} would take about {estimate_s:.1f} s of work; this server gives one request "
                              f"at most {limits.max_work_s:g} s: use a shorter clip, fewer stages or lighter settings")


def gpu_available() -> bool:
    """Whether neural work runs on a CUDA GPU here (False when torch is missing)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def deadline_s(limits) -> float:
    """Wall seconds after which a running request is stopped (:data:`DEADLINE_FACTOR` times the budget)."""
    return DEADLINE_FACTOR * limits.max_work_s
