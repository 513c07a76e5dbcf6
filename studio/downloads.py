"""Downloads named after the user's file and the method (``song.unet.wav``), in the format they pick."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from restoration import BadInputError, save_audio

#: Format choice -> (file suffix, sample format of :func:`restoration.save_audio`).
FORMATS = {
    "WAV 16-bit": ("wav", "pcm16"),
    "WAV 24-bit": ("wav", "pcm24"),
    "WAV 32-bit float": ("wav", "float"),
    "FLAC 24-bit": ("flac", "pcm24"),
    "MP3": ("mp3", "pcm16"),
}
DEFAULT_FORMAT = "WAV 16-bit"
#: Longest file stem kept from the user's file name.
MAX_STEM = 60


def source_stem(path: str | Path | None) -> str:
    """The user's file name without folder and suffix, made safe for a file name ('audio' when empty)."""
    stem = Path(str(path or "")).stem
    stem = re.sub(r"[^\w\-. ]+", "_", stem).strip(" ._")
    return stem[:MAX_STEM] or "audio"


def download_name(source: str | Path | None, method: str, file_format: str = DEFAULT_FORMAT) -> str:
    """``song.unet.wav`` for ``song.mp3`` restored with unet (a chain keeps its ``+``)."""
    suffix, _ = format_spec(file_format)
    method_part = re.sub(r"[^\w+\-]+", "_", str(method)).strip("_") or "restored"
    return f"{source_stem(source)}.{method_part}.{suffix}"


def format_spec(file_format: str) -> tuple[str, str]:
    """``(suffix, sample format)`` of a format choice; an unknown choice is a :class:`BadInputError`."""
    try:
        return FORMATS[file_format]
    except KeyError:
        raise BadInputError(f"download format must be one of {', '.join(FORMATS)}, got {file_format!r}") from None


def export(path: str | Path, y: np.ndarray, sr: int, file_format: str = DEFAULT_FORMAT) -> Path:
    """Write ``y`` at ``sr`` to ``path`` (named by :func:`download_name`, in a folder of its own so
    downloads of one name never collide) in ``file_format``; returns the path."""
    _, subtype = format_spec(file_format)
    return save_audio(path, y, sr, subtype=subtype)
