"""Long jobs in the app: progress that moves, one accelerator at a time, and jobs dropped when their
browser goes away or its time runs out.

Gradio removes a closed session's *queued* events by itself; a *running* one is stopped here: the
progress callback that the library calls between chunks raises :class:`JobCancelled` once gradio
has marked the session's job as no longer alive, or :class:`OverTime` once the job has run longer
than its ``limit_s`` (the clock starts at the first progress report, once the job has its accelerator).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable

import gradio as gr

from restoration import RestorationError

#: Neural restoration, generation and separation share the accelerator: one at a time.
ACCELERATOR = threading.Semaphore(1)


class JobCancelled(RestorationError):
    """The browser that asked for this job has gone away."""


class OverTime(RestorationError):
    """The job ran past the time this server gives one request."""


def abandoned(blocks: gr.Blocks | None, request: gr.Request | None) -> bool:
    """Whether gradio has marked ``request``'s running job as abandoned (its browser closed the page).

    Reads the queue's ``active_jobs`` (gradio sets ``alive = False`` in ``clean_events`` when the
    event stream disconnects); False whenever that is not available.
    """
    session = getattr(request, "session_hash", None)
    queue = getattr(blocks, "_queue", None)
    if not session or queue is None:
        return False
    for job_set in getattr(queue, "active_jobs", None) or []:
        for job in job_set or []:
            if getattr(job, "session_hash", None) == session and getattr(job, "alive", True) is False:
                return True
    return False


def progress_callback(progress: gr.Progress | None, desc: str, *, start: float = 0.0, end: float = 1.0,
                      blocks: gr.Blocks | None = None, request: gr.Request | None = None,
                      limit_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> Callable[[int, int], None]:
    """The library's ``progress(done, total)`` drawn on ``progress`` between ``start`` and ``end``
    (fractions of the whole job); raises :class:`JobCancelled` once the browser is gone and
    :class:`OverTime` once ``limit_s`` seconds (of ``clock``) have passed since the first report."""
    started: list[float] = []

    def report(done: int, total: int) -> None:
        if abandoned(blocks, request):
            raise JobCancelled("cancelled: the page that asked for this job was closed")
        now = clock()
        started[:] = started or [now]
        if limit_s is not None and now - started[0] > limit_s:
            raise OverTime(f"stopped after {now - started[0]:.0f} s: this server gives one request at most "
                           f"{limit_s:g} s (use a shorter clip or lighter settings)")
        if progress is not None:
            fraction = done / total if total else 1.0
            progress(start + (end - start) * fraction, desc=desc)
    return report


@contextlib.contextmanager
def accelerator(progress: gr.Progress | None = None):
    """Hold the accelerator (waiting, with a message, while another job has it)."""
    if not ACCELERATOR.acquire(blocking=False):
        if progress is not None:
            progress(0.0, desc="waiting for the accelerator (another job is using it)")
        ACCELERATOR.acquire()
    try:
        yield
    finally:
        ACCELERATOR.release()
