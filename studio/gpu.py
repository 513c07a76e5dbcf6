"""Neural work with an accelerator attached on Hugging Face ZeroGPU (``spaces.GPU``), as is elsewhere.

On ZeroGPU a function decorated with ``spaces.GPU`` runs in a forked worker that holds the GPU, and
its arguments and result cross to it pickled: a progress callback (a closure over the page and its
request) cannot, so there the work runs without one. Anywhere else (no ``spaces`` package, or
``spaces`` outside ZeroGPU, where its decorator returns the function unchanged) it runs in place
with its progress callback.
"""

from __future__ import annotations

from typing import Any, Callable

try:
    import spaces
except ImportError:  # not on Hugging Face Spaces
    spaces = None

#: Seconds of GPU time ZeroGPU reserves per call (its scheduler's estimate; longer calls are cut).
GPU_DURATION_S = 180


def zero_gpu() -> bool:
    """Whether this process runs on ZeroGPU (``SPACES_ZERO_GPU``, as the ``spaces`` package reads it)."""
    if spaces is None:
        return False
    from spaces.config import Config

    return bool(Config.zero_gpu)


def _call(fn: Callable, args: tuple, kwargs: dict) -> Any:
    return fn(*args, **kwargs)


# Decorated once, at import: ZeroGPU registers GPU functions when the app starts.
on_gpu: Callable[[Callable, tuple, dict], Any] = spaces.GPU(duration=GPU_DURATION_S)(_call) if spaces else _call


def run_neural(fn: Callable, *args, progress: Callable | None = None, **kwargs) -> Any:
    """``fn(*args, progress=progress, **kwargs)`` with the GPU attached (on ZeroGPU without ``progress``)."""
    return on_gpu(fn, args, {**kwargs, "progress": None if zero_gpu() else progress})
