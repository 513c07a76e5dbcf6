"""The A/B player: a ``gr.HTML`` component whose template, CSS and JavaScript are files in ``static/``.

Its value names two audio files and their loudness and peak; the browser matches their loudness
(at once, when the slider moves), switches between them at the same position, and loops a region.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import gradio as gr

from . import static_text
from .sync_player import sync_player_head

#: Loudness the A/B player starts at, LUFS.
DEFAULT_LUFS = -20.0


def ab_player() -> gr.HTML:
    """The player component (empty until it gets a value from :func:`ab_value`)."""
    return gr.HTML(value=None, html_template=static_text("ab_player.html"), css_template=static_text("ab_player.css"),
                   js_on_load=static_text("ab_player.js"), head=sync_player_head(), elem_id="ab-player", label="A/B player")


def file_data(path: str | Path, mime_type: str = "audio/wav") -> dict:
    """A gradio file payload: gradio serves the file and puts its URL in the value."""
    path = Path(path)
    return {"path": str(path), "orig_name": path.name, "mime_type": mime_type, "meta": {"_type": "gradio.FileData"}}


def ab_value(a: dict, b: dict, *, caption: str, target_lufs: float = DEFAULT_LUFS) -> dict:
    """The player's value for sides ``a`` and ``b``: each ``{"path", "label", "lufs", "peak_dbfs"}``
    (loudness in LUFS and sample peak in dBFS of the file as it is)."""
    value = {"caption": html.escape(caption), "target": float(target_lufs)}
    for key, side in (("a", a), ("b", b)):
        value[key] = file_data(side["path"])
        value[f"label_{key}"] = html.escape(str(side["label"]))
        value[f"lufs_{key}"] = _finite(side["lufs"])  # None: too quiet to measure, played as it is
        value[f"peak_{key}"] = _finite(side["peak_dbfs"])
    return value


def _finite(number: float) -> float | None:
    number = float(number)
    return round(number, 2) if math.isfinite(number) else None
