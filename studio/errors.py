"""Errors the user sees: every :class:`RestorationError` becomes a one-line ``gr.Error`` shown as text.

:func:`user_errors` adds to :func:`studio.guard.handled` (a log line per error, no server paths in
the message) what the user interface needs: gradio renders a toast's message as (sanitised) HTML, so a message such as
``cannot load 'htdemucs' (<urlopen error ...>)`` lost everything from the ``<``; messages are
HTML-escaped here so the whole text shows. The last message of each browser session is kept
(for the :data:`MAX_SESSIONS` most recent sessions), so a follow-up event (the compare section's
failure label) can repeat it.
"""

from __future__ import annotations

import functools
import html
import threading
from collections import OrderedDict
from typing import Callable

import gradio as gr

from . import guard

#: Longest message shown (a runaway message is cut with an ellipsis).
MAX_MESSAGE = 600
#: Sessions whose last message is kept (the least recently failed are forgotten first).
MAX_SESSIONS = 1000
_last_error: OrderedDict[str, str] = OrderedDict()
_lock = threading.Lock()


def as_text(message: str) -> str:
    """``message`` on one line, escaped so gradio's HTML toast shows it literally."""
    line = " ".join(str(message).split())
    if len(line) > MAX_MESSAGE:
        line = line[:MAX_MESSAGE - 1] + "…"
    return html.escape(line, quote=False)


def session_of(args: tuple, kwargs: dict) -> str:
    """The session hash of the ``gr.Request`` among a handler's arguments ('' when there is none)."""
    for value in (*args, *kwargs.values()):
        session = getattr(value, "session_hash", None)
        if isinstance(session, str):
            return session
    return ""


def user_errors(fn: Callable) -> Callable:
    """Turn :class:`RestorationError` (bad input, missing model, ...) into a one-line, path-free
    ``gr.Error`` whose whole text shows, logged under the handler's endpoint (``guard.handled``)."""
    return user_errors_at(f"/{fn.__name__}")(fn)


def user_errors_at(endpoint: str) -> Callable[[Callable], Callable]:
    """:func:`user_errors` with the log naming ``endpoint``."""
    def decorate(fn: Callable) -> Callable:
        guarded = guard.handled(endpoint)(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return guarded(*args, **kwargs)
            except gr.Error as exc:
                remember(session_of(args, kwargs), str(exc.message))
                exc.message = as_text(exc.message)
                raise
        return wrapper
    return decorate


def remember(session: str, message: str) -> None:
    """Keep ``message`` as ``session``'s last error (bounded: the oldest sessions go first)."""
    with _lock:
        _last_error.pop(session, None)
        _last_error[session] = message
        while len(_last_error) > MAX_SESSIONS:
            _last_error.popitem(last=False)


def last_error(request: gr.Request | None) -> str:
    """The last message shown to ``request``'s session (plain text, '' when none), forgotten once read."""
    with _lock:
        return _last_error.pop(getattr(request, "session_hash", "") or "", "")
