"""Warnings a request's own work raises (a truncated upload, samples beyond full scale), collected
per thread so the handler can show them to its user as well as log them.

``with collected() as notes:`` gathers the :class:`~restoration.AudioWarning` messages raised in this
thread inside the block; other threads' warnings never land in it. Every warning still goes on to
whatever shows warnings already (the app's log).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from typing import Iterator

from restoration.audio import AudioWarning

_local = threading.local()
_lock = threading.Lock()


@contextlib.contextmanager
def collected() -> Iterator[list[str]]:
    """The messages of the :class:`AudioWarning` s this thread raises inside the block, in order."""
    _install()
    outer = getattr(_local, "notes", None)
    _local.notes = notes = []
    try:
        yield notes
    finally:
        _local.notes = outer


def _install() -> None:
    """Put the collecting hook in front of the current ``warnings.showwarning`` (again, when
    something such as ``logging.captureWarnings`` replaced it), and show every AudioWarning, not
    only the first of each text."""
    with _lock:
        shown = warnings.showwarning
        if getattr(shown, "collects_notes", False):
            return

        def show(message, category, filename, lineno, file=None, line=None):
            notes = getattr(_local, "notes", None)
            if notes is not None and issubclass(category, AudioWarning):
                notes.append(str(message))
            shown(message, category, filename, lineno, file, line)

        show.collects_notes = True
        warnings.showwarning = show
        warnings.filterwarnings("always", category=AudioWarning)
