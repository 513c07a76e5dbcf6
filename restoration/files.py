"""Output files written whole or not at all: a temporary file beside the target, then ``os.replace``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def write_atomically(path: str | os.PathLike, write: Callable[[str], object], *, mode: int = 0o644) -> Path:
    """Call ``write(tmp)`` on a temporary path in ``path``'s folder, then move it onto ``path``.

    Readers see the old file or the whole new one, never a half-written one; on any error the temporary
    file is removed and the error raised. The file gets ``mode`` (``mkstemp`` would leave 0600).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """``text`` into ``path`` (UTF-8, line ends kept as given), atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    return write_atomically(path, write)
