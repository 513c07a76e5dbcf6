"""The example clips under ``assets/``: each with its clean reference when there is one."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SUFFIXES = (".flac", ".ogg", ".wav", ".mp3")


def example_rows(folder: Path = ASSETS) -> list[list[str | None]]:
    """``[clip, clean reference or None]`` for each example clip in ``folder``."""
    clips = sorted(p for p in folder.glob("*") if p.suffix.lower() in SUFFIXES)
    references = {p.name.replace("_clean_reference", ""): p for p in clips if "_clean_reference" in p.stem}
    return [[str(p), str(references[p.name]) if p.name in references else None]
            for p in clips if "_clean_reference" not in p.stem]
