"""Checks shared by every command line: bounded numbers, output paths, folders made for a run.

``whole_number`` and ``finite_number`` are argparse ``type=`` functions: a value outside its bounds
(NaN, infinity, zero, negative, too large) is a one-line usage error before any work.
:func:`check_output_file` and :func:`check_writable` refuse an output that cannot be written before
the work that produces it; :func:`made_folders` removes the empty folders a failed run created.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from pathlib import Path
from typing import Callable, Iterator

from .errors import OutputError

#: The largest seed numpy's generators take.
MAX_SEED = 2**63 - 1


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (inclusive)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def finite_number(low: float, high: float, *, low_open: bool = False, high_open: bool = False
                  ) -> Callable[[str], float]:
    """An argparse type: a finite number within ``[low, high]`` (``low_open``/``high_open``: that end excluded)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if value < low or value > high or (low_open and value == low) or (high_open and value == high):
            raise argparse.ArgumentTypeError(f"must be within {interval}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


#: ``--seed``: what numpy's generators take.
seed_number = whole_number(0, MAX_SEED)


def check_output_file(path: str | os.PathLike, *, what: str = "output") -> Path:
    """``path`` as a Path, or :class:`OutputError` when it names a folder (an existing one, or a
    trailing slash, which ``Path`` would silently drop)."""
    text = os.fspath(path)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        raise OutputError(f"{what} path is a folder, not a file: {text}")
    return Path(text)


def check_writable(path: str | os.PathLike, *, what: str = "output") -> Path:
    """Refuse, before any work, a file ``path`` that cannot be created: a folder, a missing parent
    folder, a parent that is a file or is not writable (files are written beside their name and
    renamed). Returns the path."""
    path = check_output_file(path, what=what)
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"{what} folder does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: permission denied")
    return path


def check_folder(path: str | os.PathLike, *, what: str = "output") -> Path:
    """Refuse, before any work, an output folder that exists as a file or whose nearest existing
    ancestor is a file or not writable (so it could not be created). Returns the path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} folder is a file: {path}")
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise OutputError(f"cannot make {what} folder {path}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: permission denied")
    return path


@contextlib.contextmanager
def made_folders(path: str | os.PathLike) -> Iterator[Path]:
    """Create folder ``path`` (and missing parents) for a run; if the run fails, remove the folders it
    created that are still empty (never a file: a failed run's partial results stay where they are)."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        for folder in missing:
            try:
                folder.rmdir()
            except OSError:  # not empty (or gone): keep it and everything above it
                break
        raise
