"""Errors raised by the restoration library.

Every error a user can cause is a :class:`RestorationError`; its message is one line that names
the problem, so the CLI prints it and exits with status 2 and the app shows it as ``gr.Error``.
"""


class RestorationError(Exception):
    """Base class of every error the user can cause or fix."""


class BadInputError(RestorationError, ValueError):
    """The audio is missing, empty, corrupt, silent, non-finite, too short or has too many channels."""


class UnknownMethodError(RestorationError, KeyError):
    """No restoration method of that name is registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BadParameterError(RestorationError, ValueError):
    """A method parameter is unknown, of the wrong type or out of range."""


class MissingModelError(RestorationError):
    """Model weights cannot be found, downloaded or loaded."""


class MethodUnavailableError(RestorationError, ImportError):
    """A method's function cannot be imported here: a package it needs is missing, or a plugin is broken."""


class OutputError(RestorationError):
    """The output file cannot be written: a folder, no permission, disk full, name too long."""


class CheckpointError(MissingModelError):
    """A checkpoint exists but is corrupt, of another format version or inconsistent with its config."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name if it has none)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def last_line(text: str | None) -> str:
    """The last non-empty line of a tool's output (its error, usually), or "no output"."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
